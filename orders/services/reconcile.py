"""Flash-sale reconciliation: Redis (stock, per-user counts, statuses, queue) against the orders."""

from __future__ import annotations

import time
from collections import defaultdict

from django.utils import timezone

from orders import keys
from orders.models import Order, Product
from orders.services.errors import ProductNotFound
from orders.services.sale import FLASH_SALE
from project.redis import get_redis


def flash_pending(*, product_id: int) -> dict:
    events = FLASH_SALE.queued(product_id)
    return {"events": len(events), "quantity": sum(int(e.get("quantity", 1)) for e in events.values())}


_CLAMP_STOCK = """
local s = tonumber(redis.call('GET', KEYS[1]) or '0')
local cap = tonumber(ARGV[1])
local add = tonumber(ARGV[2])
local v = s + add
if v > cap then v = cap end
if v < 0 then v = 0 end
if v ~= s then redis.call('SET', KEYS[1], v, 'KEEPTTL') end
return v
"""


def flash_reconcile(*, product_id: int, fix: bool = False) -> dict:
    """Compare a sale's Redis state (stock, per-user counts, token statuses, queued events)
    with its orders in the database. With fix: tokens that are pending but neither queued nor
    in the database are marked rejected and their units given back; per-user counts that
    exceed what was recorded are lowered; Redis stock is clamped to what the database can
    still supply (DB stock minus queued units). Run it once the queue is quiet; a buy racing
    with it is safe (the drain never oversells the database) but may be reported as a diff."""
    return FLASH_SALE.reconcile(product_id, fix=fix, compare=_compare, repair=_repair)


def flash_reconcile_active(*, fix: bool = True) -> list[dict]:
    """Beat: reconcile the watched sales that are over and whose queue is quiet. A live sale is
    left alone: a buy or a drain rejection between its reads would look like an over-count, and
    lowering that count would let the buyer past the limit."""
    return FLASH_SALE.reconcile_active(
        reconcile=lambda pid: flash_reconcile(product_id=pid, fix=fix), not_found=ProductNotFound, only=_ended_and_quiet
    )


def _ended_and_quiet(product_ids: list[int]) -> list[int]:
    ended = Product.objects.using("default").filter(pk__in=product_ids, flash_ends_at__lte=timezone.now())
    return [pid for pid in sorted(ended.values_list("id", flat=True)) if FLASH_SALE.quiet(pid)]


def _compare(product_id: int) -> tuple[dict, dict | None]:
    product = Product.objects.using("default").filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound(f"No product {product_id}.")
    client = get_redis()
    _meta, stock_key, bought_key, _q, status_key = keys.flash_keys(product_id)
    statuses = {k.decode(): v.decode() for k, v in client.hgetall(status_key).items() if k != b"_"}
    queued = FLASH_SALE.queued(product_id)
    db_rows = list(
        Order.objects.using("default")
        .filter(product_id=product_id, source=Order.Source.FLASH)
        .values_list("token", "user_id", "quantity", "id")
    )
    db_stock = Product.objects.using("default").filter(pk=product_id).values_list("stock", flat=True).first()
    redis_stock_raw = client.get(stock_key)
    redis_stock = None if redis_stock_raw is None else int(redis_stock_raw)
    bought = {int(k): int(v) for k, v in client.hgetall(bought_key).items() if k != b"_"}

    db_tokens = {t: (uid, q, oid) for t, uid, q, oid in db_rows}
    pending_qty = sum(int(e.get("quantity", 1)) for t, e in queued.items() if t not in db_tokens)
    lost = {t: v for t, v in statuses.items() if v.startswith("p:") and t not in queued and t not in db_tokens}
    stale_status = [t for t, (_u, _q, _o) in db_tokens.items() if statuses.get(t, "").startswith("p:")]
    recorded: dict[int, int] = defaultdict(int)
    for _t, (uid, q, _o) in db_tokens.items():
        recorded[uid] += q
    for t, e in queued.items():
        if t not in db_tokens:
            recorded[int(e["user_id"])] += int(e.get("quantity", 1))
    # Orders Redis confirmed ("c:<uid>:<order id>") that the database does not have: a restore
    # to an earlier moment lost them. They go back in the queue (the token is unique: created once).
    restored_away = _orders_lost_by_restore(statuses, db_tokens, queued, bought, recorded, product_id)
    for e in restored_away:
        recorded[e["user_id"]] += e["quantity"]
        pending_qty += e["quantity"]
    over_counted = {uid: n for uid, n in bought.items() if n > recorded.get(uid, 0)}
    cap = max(0, db_stock - pending_qty)
    report = {
        "product_id": product_id,
        "db_stock": db_stock,
        "redis_stock": redis_stock,
        "queued_events": len(queued),
        "queued_quantity": pending_qty,
        "db_flash_orders": len(db_rows),
        "db_flash_quantity": sum(q for _t, _u, q, _o in db_rows),
        "lost_tokens": sorted(lost),
        "orders_lost_by_restore": sorted(e["token"] for e in restored_away),
        "stale_statuses": len(stale_status),
        "over_counted_users": len(over_counted),
        "redis_stock_above_db": redis_stock is not None and redis_stock > cap,
        "fixed": False,
    }
    report["ok"] = not (lost or stale_status or over_counted or restored_away or report["redis_stock_above_db"])
    plan = {
        "lost": lost,
        "stale_status": stale_status,
        "db_tokens": db_tokens,
        "recorded": recorded,
        "over_counted": over_counted,
        "restored_away": restored_away,
        "cap": cap,
    }
    return report, None if report["ok"] else plan


def _repair(product_id: int, plan: dict, report: dict) -> None:
    client = get_redis()
    _meta, stock_key, bought_key, _q, status_key = keys.flash_keys(product_id)
    recorded, over_counted, db_tokens = plan["recorded"], plan["over_counted"], plan["db_tokens"]
    if plan["restored_away"]:
        # Pending again before the drain may see them, so its "created" status is the last word.
        client.hset(status_key, mapping={e["token"]: f"p:{e['user_id']}" for e in plan["restored_away"]})
        FLASH_SALE.requeue(product_id, plan["restored_away"])
    pipe = client.pipeline(transaction=False)
    for t, v in plan["lost"].items():
        pipe.hset(status_key, t, f"r:{v.split(':')[1]}")
    for t in plan["stale_status"]:
        uid, _q, oid = db_tokens[t]
        pipe.hset(status_key, t, f"c:{uid}:{oid}")
    for uid, n in over_counted.items():
        pipe.hincrby(bought_key, str(uid), recorded.get(uid, 0) - n)
    pipe.execute()
    if report["redis_stock"] is not None:
        lost_qty = sum(over_counted.values()) - sum(recorded.get(u, 0) for u in over_counted)
        # Units of lost buys go back on sale, never above what the database can supply.
        report["redis_stock"] = int(client.eval(_CLAMP_STOCK, 1, stock_key, plan["cap"], max(0, lost_qty)))


def _orders_lost_by_restore(statuses, db_tokens, queued, bought, recorded, product_id) -> list[dict]:
    """The queue events to re-create confirmed orders the database lost. The status does not
    carry the quantity: each user's units Redis counts beyond what the database and the queue
    hold are shared among that user's lost tokens (one each under the usual limit of 1)."""
    by_user: dict[int, list[str]] = defaultdict(list)
    for t, v in statuses.items():
        if v.startswith("c:") and t not in db_tokens and t not in queued:
            by_user[int(v.split(":")[1])].append(t)
    now_ms = int(time.time() * 1000)
    events = []
    for uid, tokens in by_user.items():
        units = max(len(tokens), bought.get(uid, 0) - recorded.get(uid, 0))
        for i, t in enumerate(sorted(tokens)):
            qty = units // len(tokens) + (1 if i < units % len(tokens) else 0)
            events.append({"token": t, "user_id": uid, "product_id": product_id, "quantity": qty, "ts": now_ms})
    return events
