"""The red-packet queue drain: a batch of queued grabs becomes Grab rows and wallet credits in
one transaction."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import connections, transaction

from project.queue import event_ms
from project.sql import int_array, table
from redpackets.models import Campaign, Grab
from redpackets.services.sale import GRAB_KIND, RED_PACKET_SALE
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)

_GRAB_INSERT = f"""
INSERT INTO {table(Grab)} (campaign_id, user_id, amount_cents, grabbed_at, recorded_at)
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
    user_table = table(get_user_model())
    with transaction.atomic(using="default"):
        cursor = connections["default"].cursor()
        # A user or campaign deleted since the grab would fail the whole batch on its foreign
        # key and block the queue forever: leave such events out (logged).
        user_sql = f"SELECT id FROM {user_table} WHERE id = ANY(%s::bigint[])"  # noqa: S608
        cursor.execute(user_sql, [int_array({u for _c, u in rows})])
        users = {r[0] for r in cursor.fetchall()}
        campaign_sql = f"SELECT id FROM {table(Campaign)} WHERE id = ANY(%s::bigint[])"
        cursor.execute(campaign_sql, [int_array({c for c, _u in rows})])
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
        RED_PACKET_SALE.recorded(user_ids={u for (_c, u), _v in items})
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
    registered (maybe a dead one whose batch the reaper must hand back)."""
    return RED_PACKET_SALE.queue_keys()


def register_queues() -> None:
    RED_PACKET_SALE.register(handler=grab_record_batch)
