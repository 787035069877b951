"""The flash-sale queue drain: a batch of queued buys becomes orders in one transaction."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import connections, transaction

from orders import keys, lock_objects
from orders.models import Order, Product
from orders.services.cache import orders_forget, stock_changed
from orders.services.sale import FLASH_SALE
from project.queue import event_ms
from project.redis import RedisUnavailable, get_redis, hot_pipeline
from project.sql import int_array, table

logger = logging.getLogger(__name__)

_FLASH_INSERT = f"""
INSERT INTO {table(Order)} (user_id, product_id, quantity, amount_cents, status, source, token, created_at)
SELECT u, p, q, a, 'created', 'flash', t, to_timestamp(ms / 1000.0)
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::bigint[])
       AS d(u, p, q, a, t, ms)
ON CONFLICT (token) DO NOTHING
RETURNING id, token, user_id, product_id, quantity
"""
_STOCK_UPDATE = f"""
UPDATE {table(Product)} AS p SET stock = p.stock - d.q
  FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::bigint[]) AS q) AS d
 WHERE p.id = d.id
"""


def flash_record_batch(queue_key: str, events: list[dict]) -> None:
    """The queue handler: create the batch's orders and take their stock in one transaction.
    Idempotent: tokens already in the database are skipped (a batch replayed after a worker
    died changes nothing), and INSERT ... ON CONFLICT (token) DO NOTHING guards the rest.
    Events the database has no stock for (Redis and DB out of step) are rejected, never
    oversold. Statuses and caches are updated after commit."""
    events = [e for e in events if e.get("token") and e.get("user_id") and e.get("product_id")]
    if not events:
        return
    created: dict[str, tuple[int, int]] = {}  # token -> (order id, user id)
    rejected: list[dict] = []
    with transaction.atomic(using="default"):
        cursor = connections["default"].cursor()
        product_ids = sorted({int(e["product_id"]) for e in events})
        # Lock in id order: batches of different products never deadlock.
        locked = lock_objects.products_for_update(product_ids).values_list("id", "stock", "price_cents")
        products = {pid: [stock, price] for pid, stock, price in locked}
        known = Order.objects.using("default").filter(token__in=[e["token"] for e in events])
        for token, oid, uid in known.values_list("token", "id", "user_id"):
            created[token] = (oid, uid)
        accepted = []
        seen: set[str] = set()
        for e in events:
            token, pid, qty = e["token"], int(e["product_id"]), int(e.get("quantity", 1))
            if token in created or token in seen:
                continue
            seen.add(token)
            product = products.get(pid)
            if product is None or product[0] < qty:
                rejected.append(e)
                continue
            product[0] -= qty
            accepted.append(e)
        if accepted:
            columns: tuple[list, ...] = ([], [], [], [], [], [])
            for e in accepted:
                pid, qty = int(e["product_id"]), int(e.get("quantity", 1))
                columns[0].append(int(e["user_id"]))
                columns[1].append(pid)
                columns[2].append(qty)
                columns[3].append(products[pid][1] * qty)
                columns[4].append(e["token"])
                ms = event_ms(e.get("ts"))
                if ms is None:
                    logger.error("flash queue: event time %r is not a time; the drain's time is used", e.get("ts"))
                    ms = event_ms(None)
                columns[5].append(ms)
            cursor.execute(
                _FLASH_INSERT,
                [*(int_array(c) for c in columns[:4]), columns[4], int_array(columns[5])],
            )
            taken: dict[int, int] = defaultdict(int)
            for oid, token, uid, pid, qty in cursor.fetchall():
                created[token] = (oid, uid)
                taken[pid] += qty
            if taken:
                pids = sorted(taken)
                cursor.execute(_STOCK_UPDATE, [int_array(pids), int_array(taken[p] for p in pids)])
                stock_changed(product_ids=pids)
        user_ids = {uid for _oid, uid in created.values()}
        FLASH_SALE.recorded(
            user_ids=user_ids,
            after_commit=[
                lambda: orders_forget(user_ids=user_ids),
                lambda: _flash_statuses(events, created, rejected),
            ],
        )
    if rejected:
        logger.warning("flash queue %s: %d events rejected (no stock in the database)", queue_key, len(rejected))


def _flash_statuses(events: list[dict], created: dict, rejected: list[dict]) -> None:
    try:
        # The created orders' statuses: one round trip on the hot connection (setting a field
        # twice is harmless, so it may be sent again after a dropped connection).
        replies = hot_pipeline(
            ("HSET", keys.flash_status(int(e["product_id"])), e["token"], f"c:{hit[1]}:{hit[0]}")
            for e in events
            if (hit := created.get(e["token"]))
        )
        failed = [r for r in replies if isinstance(r, Exception)]
        if failed:
            logger.warning("flash statuses: %d not set (%s); the status API reads the database", len(failed), failed[0])
        if not rejected:
            return
        # The rare rejections give the units back: a counter, never sent twice.
        pipe = get_redis().pipeline(transaction=False)
        for e in rejected:
            pid = int(e["product_id"])
            pipe.hset(keys.flash_status(pid), e["token"], f"r:{e['user_id']}")
            # The user did not get the units: they may try again.
            pipe.hincrby(keys.flash_bought(pid), str(e["user_id"]), -int(e.get("quantity", 1)))
        pipe.execute()
    except RedisUnavailable:
        logger.warning("flash statuses not updated (Redis unavailable); the status API reads the database")


def flash_queue_keys() -> list[str]:
    return FLASH_SALE.queue_keys()


def register_queues() -> None:
    FLASH_SALE.register(handler=flash_record_batch)
