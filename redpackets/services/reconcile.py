"""Red-packet reconciliation: Redis (grabbed hash, shares left, queue) against the Grab rows."""

from __future__ import annotations

import logging
import time

from project.redis import get_redis
from redpackets import keys
from redpackets.models import Grab
from redpackets.services.errors import CampaignNotFound
from redpackets.services.lifecycle import campaign_get
from redpackets.services.sale import RED_PACKET_SALE

logger = logging.getLogger(__name__)


def queued_grabs(*, campaign_id: int) -> dict[int, dict]:
    """Events waiting in the queue or held by a consumer, by user."""
    return RED_PACKET_SALE.queued(campaign_id)


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
    return RED_PACKET_SALE.reconcile(campaign_id, fix=fix, compare=_compare, repair=_repair)


def _compare(campaign_id: int) -> tuple[dict, dict | None]:
    campaign = campaign_get(campaign_id)
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
    plan = {"missing": missing, "unknown": unknown, "grabbed": grabbed, "rows": rows}
    return report, plan if missing or unknown else None


def _repair(campaign_id: int, plan: dict, report: dict) -> None:
    missing, unknown, grabbed, rows = plan["missing"], plan["unknown"], plan["grabbed"], plan["rows"]
    now_ms = int(time.time() * 1000)
    RED_PACKET_SALE.requeue(
        campaign_id, [{"packet": campaign_id, "user": u, "amount": grabbed[u], "at": now_ms} for u in missing]
    )
    if unknown:
        get_redis().hset(keys.grabbed(campaign_id), mapping={u: rows[u] for u in unknown})
    logger.warning("campaign %s reconciled: %d re-queued, %d added to Redis", campaign_id, len(missing), len(unknown))


def campaigns_reconcile_active(*, fix: bool = True) -> list[dict]:
    """Beat: reconcile every campaign whose queue the drain still watches."""
    return RED_PACKET_SALE.reconcile_active(
        reconcile=lambda cid: campaign_reconcile(campaign_id=cid, fix=fix), not_found=CampaignNotFound
    )


def active_campaign_ids() -> list[int]:
    """Campaigns whose queues the drain watches."""
    return RED_PACKET_SALE.active_ids()
