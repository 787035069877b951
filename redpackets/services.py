"""Writes of the red-packet app: creating, opening and closing campaigns, the grab (one Lua
call), the queue drain into PostgreSQL, the refund and reconciliation. Keyword-only arguments."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.utils import timezone

from project import db_router
from project.queue import ReliableQueue, event_ms, register_queue_family
from project.redis import RedisUnavailable, get_redis, hot_script_replicated, load_script
from project.sql import int_array
from project.tasks import kick_drain
from redpackets import keys, splitting
from redpackets.models import Campaign, Grab
from staticgen import services as staticgen_services
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)

LUA = Path(__file__).parent / "lua"
GRAB_SCRIPT = LUA / "grab.lua"
OPEN_SCRIPT = LUA / "open.lua"
CLOSE_SCRIPT = LUA / "close.lua"
QUEUE_FAMILY = "redpackets.grabs"
GRAB_KIND = "redpacket_grab"
REFUND_KIND = "redpacket_refund"
USER_HASH_FIELDS = ["grabs_count", "grabs_total_cents"]

# A campaign's keys outlive its end by this long, so late clicks get 409/410 (not 404) and
# reconciliation can still compare Redis with the database.
KEYS_GRACE_SECONDS = settings.REDPACKETS_KEYS_GRACE_SECONDS
# Per user and packet: at most this many grab attempts per window (0 turns it off). A person
# clicks a few times a second at most; a script hammering the button gets 429 from inside the
# grab script itself, so the limit costs no extra Redis round trip.
GRAB_RATE_LIMIT = settings.REDPACKETS_GRAB_RATE_LIMIT
GRAB_RATE_WINDOW_MS = settings.REDPACKETS_GRAB_RATE_WINDOW_MS
# Upper bounds that keep one campaign's Redis load and Lua scripts small.
MAX_COUNT = settings.REDPACKETS_MAX_COUNT
MAX_TOTAL_CENTS = settings.REDPACKETS_MAX_TOTAL_CENTS


# ---------------------------------------------------------------- errors


class CampaignError(Exception):
    """Bad input or a state that forbids the action; the message is for people."""


class CampaignNotFound(CampaignError):
    pass


# ---------------------------------------------------------------- create, open, close


def campaign_create(
    *,
    title: str,
    total_cents: int,
    count: int,
    starts_at: datetime,
    ends_at: datetime,
    split_method: str = splitting.DOUBLE_AVERAGE,
    owner_id: int | None = None,
    open: bool = False,  # noqa: A002 - reads best at the call site: campaign_create(..., open=True)
) -> Campaign:
    """Create a campaign with its shares split now (and load it into Redis with open=True).
    Raises CampaignError on bad input."""
    title = (title or "").strip()[:120]
    if not title:
        raise CampaignError("A title is required.")
    if not isinstance(total_cents, int) or not isinstance(count, int):
        raise CampaignError("total_cents and count must be whole numbers.")
    if not 1 <= count <= MAX_COUNT:
        raise CampaignError(f"count must be between 1 and {MAX_COUNT}.")
    if not count <= total_cents <= MAX_TOTAL_CENTS:
        raise CampaignError(f"total_cents must be at least count ({count}) and at most {MAX_TOTAL_CENTS}.")
    if ends_at <= starts_at:
        raise CampaignError("ends_at must be after starts_at.")
    if split_method not in splitting.METHODS:
        raise CampaignError(f"split must be one of {', '.join(splitting.METHODS)}.")
    if owner_id is not None and not get_user_model().objects.filter(pk=owner_id).exists():
        raise CampaignError(f"No user {owner_id} to own the campaign.")
    campaign = Campaign.objects.create(
        title=title,
        total_cents=total_cents,
        count=count,
        split_method=split_method,
        shares=splitting.split(total_cents, count, split_method),
        starts_at=starts_at,
        ends_at=ends_at,
        owner_id=owner_id,
    )
    if open:
        campaign_open(campaign_id=campaign.pk)
        campaign.refresh_from_db()
    return campaign


def _get(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.using("default").filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignNotFound(f"No campaign {campaign_id}.")
    return campaign


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _expire_at(campaign: Campaign) -> int:
    return int(campaign.ends_at.timestamp()) + KEYS_GRACE_SECONDS


def campaign_open(*, campaign_id: int) -> dict:
    """Load the campaign into Redis (its window, its shares and who already grabbed) and mark it
    open. Idempotent: a loaded campaign only gets its window refreshed (an admin edit), never its
    shares reloaded. When Redis lost a loaded campaign, the reload is the stored shares minus the
    amounts already persisted (grabs that were only in the lost queue cannot be recovered)."""
    campaign = _get(campaign_id)
    if campaign.status == Campaign.Status.CLOSED:
        raise CampaignError(f"Campaign {campaign_id} is closed; it cannot be opened again.")
    persisted = list(
        Grab.objects.using("default").filter(campaign_id=campaign_id).values_list("user_id", "amount_cents")
    )
    # The stored shares minus one share per persisted grab of that amount (a multiset
    # difference); on a first open nothing is persisted and every share is loaded.
    owed = Counter(a for _u, a in persisted)
    shares = []
    for s in campaign.shares:
        if owed[s] > 0:
            owed[s] -= 1
        else:
            shares.append(int(s))
    args: list = [
        _ms(campaign.starts_at),
        _ms(campaign.ends_at),
        _expire_at(campaign),
        campaign.total_cents,
        campaign.count,
        len(shares),
        *shares,
    ]
    for uid, amount in persisted:
        args += [uid, amount]
    loaded_now, shares_left = load_script(OPEN_SCRIPT)(
        keys=[keys.meta(campaign_id), keys.amounts(campaign_id), keys.grabbed(campaign_id)], args=args
    )
    get_redis().sadd(keys.ACTIVE, campaign_id)
    if campaign.status == Campaign.Status.DRAFT:
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.DRAFT).update(
            status=Campaign.Status.OPEN, opened_at=timezone.now()
        )
        _campaign_page_changed(campaign_id)
    return {"campaign_id": campaign_id, "loaded_now": bool(loaded_now), "shares_left": int(shares_left)}


def _campaign_page_changed(campaign_id: int) -> None:
    """Opening and closing are conditional UPDATEs (no save signal): republish the campaign's
    CDN page (an upcoming campaign's page appears, a closed one's goes)."""
    staticgen_services.publish_schedule([f"redpackets/{campaign_id}.html", "sitemap.xml"])


def campaign_window_changed(*, campaign_id: int) -> None:
    """After an admin edit of the window: a loaded campaign gets the new window, after commit."""

    def refresh():
        campaign = Campaign.objects.using("default").filter(pk=campaign_id).values("status").first()
        if campaign and campaign["status"] == Campaign.Status.OPEN:
            try:
                campaign_open(campaign_id=campaign_id)
            except (RedisUnavailable, CampaignError) as exc:
                logger.warning("campaign %s window not refreshed in Redis: %s", campaign_id, exc)

    transaction.on_commit(refresh, using="default")


def campaign_close(*, campaign_id: int) -> dict:
    """Stop grabs for good and refund what was never grabbed to the owner (ledger kind
    redpacket_refund, reference rp:<id>:refund). Idempotent: re-running it changes nothing.

    The refund is the sum of the shares still in Redis after the close script ran: a grab the
    script already accepted (even if still waiting in the queue) is the grabber's, never
    refunded. Raises RedisUnavailable (the beat task retries on its next run)."""
    campaign = _get(campaign_id)
    if campaign.status == Campaign.Status.CLOSED:
        return _close_report(campaign, already=True)
    loaded, _n_left, cents_left, _grabs = load_script(CLOSE_SCRIPT)(
        keys=[keys.meta(campaign_id), keys.amounts(campaign_id), keys.grabbed(campaign_id)], args=[]
    )
    if not loaded:
        if campaign.status == Campaign.Status.DRAFT:
            cents_left = campaign.total_cents  # never opened: nobody could grab anything
        else:
            # Redis lost the campaign (and with it any unpersisted grab): the database is all
            # that is left to go by.
            persisted = sum(
                Grab.objects.using("default").filter(campaign_id=campaign_id).values_list("amount_cents", flat=True)
            )
            cents_left = campaign.total_cents - persisted
            logger.warning("campaign %s closed without its Redis state; refund from the database", campaign_id)
    refund = int(cents_left) if campaign.owner_id else 0
    with transaction.atomic(using="default"):
        claimed = (
            Campaign.objects.filter(pk=campaign_id)
            .exclude(status=Campaign.Status.CLOSED)
            .update(status=Campaign.Status.CLOSED, closed_at=timezone.now(), refunded_cents=refund)
        )
        if claimed and refund > 0:
            usercenter_services.wallet_credit(
                user_id=campaign.owner_id,
                kind=REFUND_KIND,
                reference=f"rp:{campaign_id}:refund",
                amount_cents=refund,
                memo=f"Red packet #{campaign_id} not fully grabbed"[:200],
            )
    if not campaign.owner_id and cents_left:
        logger.warning("campaign %s has no owner: %s cents left are not refunded", campaign_id, cents_left)
    if claimed:
        _campaign_page_changed(campaign_id)
    return _close_report(_get(campaign_id), already=not claimed)


def _close_report(campaign: Campaign, *, already: bool) -> dict:
    return {
        "campaign_id": campaign.pk,
        "status": campaign.status,
        "refunded_cents": campaign.refunded_cents or 0,
        "already_closed": already,
    }


def campaigns_expire_due() -> list[dict]:
    """Beat: close (and refund) every open campaign past its end; stop watching the queues of
    closed campaigns that are fully drained."""
    now = timezone.now()
    due = list(
        Campaign.objects.using("default")
        .filter(status=Campaign.Status.OPEN, ends_at__lte=now)
        .values_list("id", flat=True)
        .order_by("ends_at")[:100]
    )
    done = [campaign_close(campaign_id=cid) for cid in due]
    _prune_active()
    return done


def _prune_active() -> None:
    client = get_redis()
    ids = [int(m) for m in client.smembers(keys.ACTIVE)]
    if not ids:
        return
    closed = set(
        Campaign.objects.using("default").filter(pk__in=ids, status=Campaign.Status.CLOSED).values_list("id", flat=True)
    )
    for cid in closed:
        queue = ReliableQueue(keys.queue(cid))
        if not client.llen(queue.key) and not client.exists(queue.consumers_key):
            client.srem(keys.ACTIVE, cid)


# ---------------------------------------------------------------- the grab (hot path)


@dataclass(frozen=True)
class GrabResult:
    status: int
    body: dict
    headers: dict | None = None


_NOT_STARTED = "This red packet has not opened yet."
_ENDED = "This red packet has ended."
_SOLD_OUT = "All shares of this red packet are gone."
_ALREADY = "You already grabbed this red packet."
_UNKNOWN = "No such red packet."
_RELOADING = "This red packet is being reloaded; retry in a moment."
_UNCONFIRMED = "Your grab is being confirmed; retry in a moment to see it."
RELOAD_RETRY_AFTER_SECONDS = 2
_THROTTLED = "Too many attempts; slow down."


def grab(*, user_id: int, campaign_id: int) -> GrabResult:
    """One Lua call, no SQL. Raises RedisUnavailable (the view answers 503)."""
    now_ms = int(time.time() * 1000)
    (code, value, kick), replicated = hot_script_replicated(
        load_script(GRAB_SCRIPT),
        keys=keys.grab_keys(campaign_id, user_id),
        args=[user_id, now_ms, campaign_id, GRAB_RATE_LIMIT, GRAB_RATE_WINDOW_MS],
    )
    if code == 0:
        if kick:
            kick_drain()
        if not replicated:
            # Taken on the master, not yet on a replica: a failover now could lose it, so no 200
            # yet. A retry answers 409 with the amount once it is safe (or grabs again if lost).
            return GrabResult(503, {"detail": _UNCONFIRMED, "packet_id": campaign_id}, {"Retry-After": "1"})
        return GrabResult(200, {"amount_cents": value, "packet_id": campaign_id})
    if code == 4:
        return GrabResult(409, {"detail": _ALREADY, "amount_cents": value, "packet_id": campaign_id})
    if code == 5:
        return GrabResult(410, {"detail": _SOLD_OUT, "reason": "sold_out", "packet_id": campaign_id})
    if code == 3:
        return GrabResult(410, {"detail": _ENDED, "reason": "ended", "packet_id": campaign_id})
    if code == 2:
        starts = datetime.fromtimestamp(value / 1000, tz=UTC).isoformat()
        return GrabResult(425, {"detail": _NOT_STARTED, "starts_at": starts, "packet_id": campaign_id})
    if code == 6:
        retry = max(1, (int(value) + 999) // 1000)
        return GrabResult(429, {"detail": _THROTTLED, "retry_after_ms": int(value)}, {"Retry-After": str(retry)})
    if _open_in_database(campaign_id):
        # Redis lost it (a restart without data, a failover to a replica that was behind): it is
        # reloaded from the database within seconds; meanwhile a retry, not a 404.
        _request_reload(campaign_id)
        return GrabResult(
            503, {"detail": _RELOADING, "packet_id": campaign_id}, {"Retry-After": str(RELOAD_RETRY_AFTER_SECONDS)}
        )
    return GrabResult(404, {"detail": _UNKNOWN})


# Per process: which campaigns the database says are open, for a few seconds, so a storm on a
# packet Redis lost (or on ids that do not exist) costs the database one query per process.
_open_cache: TTLCache = TTLCache(maxsize=10_000, ttl=2.0)
_open_cache_lock = threading.Lock()


def _open_in_database(campaign_id: int) -> bool:
    with _open_cache_lock:
        known = _open_cache.get(campaign_id)
    if known is None:
        known = Campaign.objects.filter(
            pk=campaign_id, status=Campaign.Status.OPEN, ends_at__gt=timezone.now()
        ).exists()
        with _open_cache_lock:
            _open_cache[campaign_id] = known
    return known


def _request_reload(campaign_id: int) -> None:
    """Ask a worker to reload the campaign now (once per few seconds whoever asks); the beat
    task `reload_missing` does it anyway."""
    from redpackets.tasks import reload_campaign

    try:
        if get_redis().set(keys.reload_lock(campaign_id), 1, nx=True, ex=RELOAD_RETRY_AFTER_SECONDS * 2):
            reload_campaign.delay(campaign_id)
    except Exception:  # noqa: BLE001 - the beat task reloads it anyway; the grab answers 503 either way
        logger.warning("reload of red packet %s not requested", campaign_id, exc_info=True)


def campaigns_reload_missing() -> list[int]:
    """Beat: every open campaign in its window that Redis does not hold (Redis restarted empty,
    or failed over to a replica that was behind) is loaded again from the database, with who
    already grabbed. Returns the campaigns reloaded. Raises RedisUnavailable."""
    ids = list(
        Campaign.objects.using("default")
        .filter(status=Campaign.Status.OPEN, ends_at__gt=timezone.now())
        .order_by("ends_at")
        .values_list("id", flat=True)[:1000]
    )
    if not ids:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for cid in ids:
        pipe.exists(keys.meta(cid))
    missing = [cid for cid, present in zip(ids, pipe.execute(), strict=True) if not present]
    for cid in missing:
        campaign_open(campaign_id=cid)
        logger.warning("red packet %s was missing from Redis: reloaded from the database", cid)
    return missing


# ---------------------------------------------------------------- the queue drain

_GRAB_INSERT = """
INSERT INTO redpackets_grab (campaign_id, user_id, amount_cents, grabbed_at, recorded_at)
SELECT c, u, a, to_timestamp(t / 1000.0), now()
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) AS d(c, u, a, t)
ON CONFLICT (campaign_id, user_id) DO NOTHING
"""


def _clean(events: list[dict]) -> dict[tuple[int, int], tuple[int, int]]:
    """(campaign, user) -> (amount, grabbed at in epoch ms); malformed events are logged and
    dropped (a time no datetime can hold among them: it would fail the whole batch's insert)."""
    out: dict[tuple[int, int], tuple[int, int]] = {}
    for e in events:
        try:
            cid, uid, amount = int(e["packet"]), int(e["user"]), int(e["amount"])
        except (KeyError, TypeError, ValueError):
            logger.error("red-packet queue: malformed event dropped: %r", e)
            continue
        at = event_ms(e.get("at"))
        if at is None:
            logger.error("red-packet queue: event with an impossible time dropped: %r", e)
            continue
        if amount < 1:
            logger.error("red-packet queue: event with a non-positive amount dropped: %r", e)
            continue
        # A replayed event (reaper, reconcile) may sit beside its original in one batch.
        out.setdefault((cid, uid), (amount, at))
    return out


def grab_record_batch(queue_key: str, events: list[dict]) -> None:
    """The queue handler: one transaction inserts the batch's Grab rows (ON CONFLICT DO NOTHING)
    and credits the wallets (idempotent on the ledger's (kind, reference)). A replayed batch, or
    a grab whose row was deleted by hand and re-queued, changes no balance twice. Raises when the
    primary is down: the queue puts the batch back and it is written when the primary returns."""
    rows = _clean(events)
    if not rows:
        return
    user_table = get_user_model()._meta.db_table
    with transaction.atomic(using="default"):
        cursor = connections["default"].cursor()
        # A user or campaign deleted since the grab would fail the whole batch on its foreign
        # key and block the queue forever: leave such events out (logged).
        user_sql = f"SELECT id FROM {user_table} WHERE id = ANY(%s::bigint[])"  # noqa: S608
        cursor.execute(user_sql, [int_array({u for _c, u in rows})])
        users = {r[0] for r in cursor.fetchall()}
        cursor.execute(
            "SELECT id FROM redpackets_campaign WHERE id = ANY(%s::bigint[])", [int_array({c for c, _u in rows})]
        )
        campaigns = {r[0] for r in cursor.fetchall()}
        bad = [k for k in rows if k[0] not in campaigns or k[1] not in users]
        for k in bad:
            logger.error("red-packet queue %s: grab %s refers to a missing user or campaign; dropped", queue_key, k)
            rows.pop(k)
        if not rows:
            return
        items = sorted(rows.items())
        cursor.execute(
            _GRAB_INSERT,
            [
                int_array([c for (c, _u), _v in items]),
                int_array([u for (_c, u), _v in items]),
                int_array([a for _k, (a, _t) in items]),
                int_array([t for _k, (_a, t) in items]),
            ],
        )
        # First after commit: the users' write position, so the refills below read fresh rows.
        db_router.remember_writes(user_ids={u for (_c, u), _v in items})
        # After commit, one script call per user refreshes the balance and drops the grab count
        # and total from the cached hash (the next read refills them from the rows).
        usercenter_services.wallet_credit_batch(
            entries=[
                {"user_id": u, "kind": GRAB_KIND, "reference": f"rp:{c}:{u}", "amount_cents": a}
                for (c, u), (a, _t) in items
            ],
            forget_fields=usercenter_services.user_fields(group="grabs"),
        )


def grab_queue_keys() -> list[str]:
    """Queues worth a drain round: those of loaded campaigns holding events, or with a consumer
    registered (maybe a dead one whose batch the reaper must hand back). Two cheap commands per
    campaign in one pipeline, so idle campaigns cost the drain nothing else."""
    try:
        client = get_redis()
        ids = sorted(int(m) for m in client.smembers(keys.ACTIVE))
        if not ids:
            return []
        pipe = client.pipeline(transaction=False)
        for cid in ids:
            pipe.llen(keys.queue(cid))
            pipe.exists(ReliableQueue(keys.queue(cid)).consumers_key)
        flags = pipe.execute()
    except RedisUnavailable:
        return []
    return [keys.queue(cid) for i, cid in enumerate(ids) if flags[2 * i] or flags[2 * i + 1]]


def register_queues() -> None:
    register_queue_family(QUEUE_FAMILY, keys=grab_queue_keys, handler=grab_record_batch, prefix="rp:{", time_field="at")


# ---------------------------------------------------------------- reconciliation


def queued_grabs(*, campaign_id: int) -> dict[int, dict]:
    """Events waiting in the queue or held by a consumer, by user. The queue is read before the
    processing lists, so an event moving from one to the other is seen at least once."""
    queue = ReliableQueue(keys.queue(campaign_id))
    client = get_redis()
    raw = list(client.lrange(queue.key, 0, -1))
    for cid in client.hkeys(queue.consumers_key):
        raw += client.lrange(queue.processing_key(cid.decode()), 0, -1)
    out: dict[int, dict] = {}
    for item in raw:
        try:
            e = json.loads(item)
            out[int(e["user"])] = e
        except (ValueError, KeyError, TypeError):
            continue
    return out


def campaign_reconcile(*, campaign_id: int, fix: bool = False) -> dict:
    """Compare Redis (grabbed hash, shares left, queue and in-flight batches) with the Grab rows.

    - missing: grabbed in Redis, no row, not queued -> with fix, re-queued (the drain writes the
      row; the ledger's unique reference means the wallet is never paid twice);
    - unknown_in_redis: a row whose user Redis does not know -> with fix, added to the grabbed
      hash (so that user cannot grab a second share);
    - amount_mismatch: row and Redis disagree on the amount (reported only);
    - the books: shares grabbed + shares left == count, cents grabbed + cents left == total.

    Redis is read before the database, so a grab being drained meanwhile is never reported
    missing; at worst one being handed back by the reaper is re-queued twice (harmless)."""
    campaign = _get(campaign_id)
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.exists(keys.meta(campaign_id))
    pipe.hgetall(keys.grabbed(campaign_id))
    pipe.lrange(keys.amounts(campaign_id), 0, -1)
    pipe.hget(keys.meta(campaign_id), "closed")
    loaded, grabbed_raw, left_raw, closed = pipe.execute()
    grabbed = {int(k): int(v) for k, v in grabbed_raw.items() if k != keys.PLACEHOLDER}
    left = [int(x) for x in left_raw]
    queued = queued_grabs(campaign_id=campaign_id)
    rows = dict(Grab.objects.using("default").filter(campaign_id=campaign_id).values_list("user_id", "amount_cents"))
    missing = sorted(u for u in grabbed if u not in rows and u not in queued)
    unknown = sorted(u for u in rows if u not in grabbed) if loaded else []
    mismatch = sorted(u for u in rows if u in grabbed and grabbed[u] != rows[u])
    report = {
        "campaign_id": campaign_id,
        "status": campaign.status,
        "loaded": bool(loaded),
        "closed_in_redis": closed == b"1",
        "count": campaign.count,
        "total_cents": campaign.total_cents,
        "redis_grabs": len(grabbed),
        "redis_grabbed_cents": sum(grabbed.values()),
        "shares_left": len(left),
        "cents_left": sum(left),
        "queued": len(queued),
        "db_rows": len(rows),
        "db_cents": sum(rows.values()),
        "missing": missing,
        "unknown_in_redis": unknown,
        "amount_mismatch": mismatch,
        "books_balance": (not loaded)
        or (len(grabbed) + len(left) == campaign.count and sum(grabbed.values()) + sum(left) == campaign.total_cents),
        "fixed": False,
    }
    report["ok"] = not (missing or unknown or mismatch) and report["books_balance"]
    if fix and (missing or unknown):
        now_ms = int(time.time() * 1000)
        if missing:
            ReliableQueue(keys.queue(campaign_id)).push(
                *[{"packet": campaign_id, "user": u, "amount": grabbed[u], "at": now_ms} for u in missing]
            )
            client.sadd(keys.ACTIVE, campaign_id)
            kick_drain()
        if unknown:
            client.hset(keys.grabbed(campaign_id), mapping={u: rows[u] for u in unknown})
        report["fixed"] = True
        logger.warning(
            "campaign %s reconciled: %d re-queued, %d added to Redis", campaign_id, len(missing), len(unknown)
        )
    return report


def campaigns_reconcile_active(*, fix: bool = True) -> list[dict]:
    """Beat: reconcile every campaign whose queue the drain still watches."""
    ids = active_campaign_ids()
    reports = []
    for cid in ids:
        try:
            reports.append(campaign_reconcile(campaign_id=cid, fix=fix))
        except CampaignNotFound:
            get_redis().srem(keys.ACTIVE, cid)
    return reports


def active_campaign_ids() -> list[int]:
    """Campaigns whose queues the drain watches."""
    return sorted(int(m) for m in get_redis().smembers(keys.ACTIVE))
