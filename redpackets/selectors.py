"""Reads of the red-packet app. Campaign rows come from the database (replica); what is left
of a packet comes from Redis, which is the truth while a campaign is loaded."""

from __future__ import annotations

import logging

from django.db.models import Count, Sum
from django.utils import timezone

from project.queue import ReliableQueue
from project.redis import RedisUnavailable, get_redis
from redpackets import keys
from redpackets.models import Campaign, Grab

logger = logging.getLogger(__name__)

LIST_LIMIT = 50
MINE_LIMIT = 100
CAMPAIGN_FIELDS = ("id", "title", "total_cents", "count", "split_method", "starts_at", "ends_at", "status")


def grab_summary(*, user_id: int) -> dict:
    """How many packets the user grabbed and for how much (persisted grabs; the user hash
    caches it and the drain drops the cached fields after each batch)."""
    row = Grab.objects.filter(user_id=user_id).aggregate(n=Count("id"), s=Sum("amount_cents"))
    return {"count": int(row["n"] or 0), "total_cents": int(row["s"] or 0)}


def live_numbers(*, campaign_ids: list[int]) -> dict[int, dict | None]:
    """Per campaign, from Redis in one round trip: shares and cents left, grabs so far, and
    whether grabs are closed. None for a campaign not loaded or when Redis is down."""
    if not campaign_ids:
        return {}
    try:
        pipe = get_redis().pipeline(transaction=False)
        for cid in campaign_ids:
            pipe.hmget(keys.meta(cid), "left_cents", "closed")
            pipe.llen(keys.amounts(cid))
            pipe.hlen(keys.grabbed(cid))
        raw = pipe.execute()
    except RedisUnavailable:
        logger.warning("red-packet numbers unavailable: Redis down")
        return {cid: None for cid in campaign_ids}
    out: dict[int, dict | None] = {}
    for i, cid in enumerate(campaign_ids):
        (left_cents, closed), left, grabbed = raw[3 * i], raw[3 * i + 1], raw[3 * i + 2]
        if left_cents is None:
            out[cid] = None
        else:
            out[cid] = {
                "remaining_count": int(left),
                "remaining_cents": int(left_cents),
                "grabbed_count": max(0, int(grabbed) - 1),
                "closed": closed == b"1",
            }
    return out


def _campaign_out(row: dict, live: dict | None, now) -> dict:
    campaign = Campaign(**{k: row[k] for k in CAMPAIGN_FIELDS})
    state = campaign.state(now)
    if live and live["closed"] and state in ("live", "upcoming"):
        state = "ended"
    if live and state == "live" and live["remaining_count"] == 0:
        state = "sold_out"
    return {
        "id": row["id"],
        "title": row["title"],
        "total_cents": row["total_cents"],
        "count": row["count"],
        "split_method": row["split_method"],
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "status": row["status"],
        "state": state,
        "remaining_count": live["remaining_count"] if live else None,
        "remaining_cents": live["remaining_cents"] if live else None,
        "grabbed_count": live["grabbed_count"] if live else None,
    }


def campaign_list(*, limit: int = LIST_LIMIT) -> list[dict]:
    """Open campaigns (upcoming, live, just ended) first by start, then recently closed ones."""
    rows = list(
        Campaign.objects.filter(status=Campaign.Status.OPEN)
        .order_by("starts_at", "id")
        .values(*CAMPAIGN_FIELDS)[:limit]
    )
    if len(rows) < limit:
        rows += list(
            Campaign.objects.filter(status=Campaign.Status.CLOSED)
            .order_by("-ends_at", "-id")
            .values(*CAMPAIGN_FIELDS)[: limit - len(rows)]
        )
    now = timezone.now()
    live = live_numbers(campaign_ids=[r["id"] for r in rows if r["status"] == Campaign.Status.OPEN])
    return [_campaign_out(r, live.get(r["id"]), now) for r in rows]


def campaign_detail(*, campaign_id: int) -> dict | None:
    row = Campaign.objects.filter(pk=campaign_id).exclude(status=Campaign.Status.DRAFT).values(*CAMPAIGN_FIELDS).first()
    if row is None:
        return None
    live = live_numbers(campaign_ids=[campaign_id])[campaign_id] if row["status"] == Campaign.Status.OPEN else None
    out = _campaign_out(row, live, timezone.now())
    if row["status"] == Campaign.Status.CLOSED:
        out["remaining_count"] = 0
        out["remaining_cents"] = 0
    return out


def my_grab(*, campaign_id: int, user_id: int) -> int | None:
    """The amount this user grabbed from this packet: Redis first (it knows a grab the moment it
    happens), the database when the campaign is not loaded or Redis is down."""
    try:
        raw = get_redis().hget(keys.grabbed(campaign_id), str(user_id))
        if raw is not None:
            return int(raw)
        if get_redis().exists(keys.meta(campaign_id)):
            return None
    except RedisUnavailable:
        pass
    return Grab.objects.filter(campaign_id=campaign_id, user_id=user_id).values_list("amount_cents", flat=True).first()


def user_grabs(*, user_id: int, limit: int = MINE_LIMIT) -> list[dict]:
    """The user's persisted grabs, newest first (index user, -grabbed_at)."""
    rows = (
        Grab.objects.filter(user_id=user_id)
        .select_related("campaign")
        .order_by("-grabbed_at", "-id")
        .values("campaign_id", "campaign__title", "amount_cents", "grabbed_at")[:limit]
    )
    return [
        {
            "packet_id": r["campaign_id"],
            "title": r["campaign__title"],
            "amount_cents": r["amount_cents"],
            "grabbed_at": r["grabbed_at"].isoformat(),
        }
        for r in rows
    ]


def campaign_status(*, campaign_id: int) -> dict | None:
    """Ops view (command, admin): Redis numbers, queue depth and in-flight events, persisted
    count and sum. Redis parts are None when Redis is down."""
    row = Campaign.objects.using("default").filter(pk=campaign_id).values(*CAMPAIGN_FIELDS, "refunded_cents").first()
    if row is None:
        return None
    persisted = (
        Grab.objects.using("default").filter(campaign_id=campaign_id).aggregate(n=Count("id"), s=Sum("amount_cents"))
    )
    live = live_numbers(campaign_ids=[campaign_id])[campaign_id]
    queue = ReliableQueue(keys.queue(campaign_id))
    try:
        depth, in_flight = queue.depth(), queue.in_flight()
    except RedisUnavailable:
        depth = in_flight = None
    out = _campaign_out(row, live, timezone.now())
    out.update(
        {
            "loaded": live is not None,
            "queue_depth": depth,
            "in_flight": in_flight,
            "persisted_count": int(persisted["n"] or 0),
            "persisted_cents": int(persisted["s"] or 0),
            "refunded_cents": row["refunded_cents"],
        }
    )
    return out


def user_balance(*, user_id: int) -> int | None:
    """The user's wallet balance through the user center (its cached hash; the DB when Redis is
    down). None when the user center cannot say."""
    from usercenter import selectors as usercenter_selectors

    try:
        return int(usercenter_selectors.me_get(user_id=user_id)["balance_cents"])
    except Exception:  # noqa: BLE001 - a page must render even if the user center has a bad moment
        logger.warning("balance of user %s unavailable", user_id, exc_info=True)
        return None


def user_center_fields(*, user_id: int) -> dict:
    """The grabs' field group of the user center's hash."""
    grabs = grab_summary(user_id=user_id)
    return {"grabs_count": int(grabs.get("count") or 0), "grabs_total_cents": int(grabs.get("total_cents") or 0)}
