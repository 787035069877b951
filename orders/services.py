"""Writes of the orders app: normal purchases, flash-sale buys and their queue drain, sale
opening and reconciliation, cache invalidation. Keyword-only arguments throughout."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from orders import keys, selectors
from orders.models import Order, Product
from orders.serializers import ORDER_FIELDS, order_dict
from project import db_router
from project.queue import ReliableQueue, event_ms, register_queue_family
from project.redis import RedisUnavailable, get_redis, hot_pipeline, hot_script_replicated, load_script
from project.sql import int_array
from project.tasks import kick_drain
from staticgen import services as staticgen_services
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)

FLASH_BUY_SCRIPT = Path(__file__).parent / "lua" / "flash_buy.lua"
MAX_QUANTITY = 100
QUEUE_FAMILY = "orders.flash"
# Flash keys outlive the sale by this long, so late status polls and reconciliation still work.
FLASH_KEYS_GRACE_SECONDS = getattr(settings, "ORDERS_FLASH_KEYS_GRACE_SECONDS", 86400)
# How long a process trusts its own "sold out" flag before asking Redis again. Every process
# (gunicorn worker) learns "sold out" from its own first 410 and forgets it after this long,
# so a re-opened or restocked sale is visible everywhere within these seconds, at the cost of
# one Redis call per process per period.
SOLD_OUT_FLAG_SECONDS = getattr(settings, "ORDERS_SOLD_OUT_FLAG_SECONDS", 3.0)
# The beat task loads a sale's stock this long before it starts (early buyers then get 425
# from the script instead of a database lookup).
FLASH_PRELOAD_SECONDS = getattr(settings, "ORDERS_FLASH_PRELOAD_SECONDS", 300)


# ---------------------------------------------------------------- errors (the API maps .status)


class OrderError(Exception):
    status = 400

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidOrder(OrderError):
    status = 400


class ProductNotFound(OrderError):
    status = 404


class OutOfStock(OrderError):
    status = 409


class NotAFlashProduct(OrderError):
    status = 404


class FlashLimitReached(OrderError):
    status = 409


class FlashSoldOut(OrderError):
    status = 410


class FlashEnded(OrderError):
    status = 410


class FlashNotStarted(OrderError):
    status = 425


class FlashUnconfirmed(OrderError):
    status = 503


class FlashReloading(OrderError):
    status = 503


# ---------------------------------------------------------------- cache invalidation


def order_list_forget(*, user_ids) -> None:
    """Drop the users' cached page 1 and bump its generation (a fill racing with this write
    then stores nothing). Call after commit."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return
    ttl = 2 * selectors.PAGE1_TTL_SECONDS
    commands = []
    for uid in user_ids:
        gen = keys.page1_gen_key(uid)
        commands += [("INCR", gen), ("EXPIRE", gen, ttl), ("DEL", keys.page1_key(uid))]
    try:
        # One round trip on the hot connection (a drained batch forgets hundreds of users). Sent
        # again after a dropped connection, a generation moves twice: it only has to move.
        replies = hot_pipeline(commands)
    except RedisUnavailable:
        logger.error("order page 1 of users %s not invalidated: Redis unavailable", user_ids[:20])
        return
    failed = [r for r in replies if isinstance(r, Exception)]
    if failed:
        logger.error("order page 1: %d invalidation commands failed (%s)", len(failed), failed[0])


def _orders_written(*, user_ids) -> None:
    """Everything that shows a user's orders learns about the write, after commit."""
    user_ids = sorted(set(user_ids))

    def forget():
        order_list_forget(user_ids=user_ids)
        usercenter_services.user_fields_invalidate_many(user_ids=user_ids, group="orders")

    transaction.on_commit(forget, using="default")


def orders_imported(*, user_ids) -> None:
    """Orders written in bulk outside the services (demo data, imports): drop the caches after
    commit, as every other order write does."""
    _orders_written(user_ids=user_ids)


def product_changed(*, product_id: int) -> None:
    """After an admin edit: drop the cached product and refresh a loaded sale's window/limit."""

    def refresh():
        try:
            selectors.product_cache.delete(str(product_id))
        except RedisUnavailable:
            logger.warning("product %s cache not dropped: Redis unavailable", product_id)
        selectors.product_cache.clear_local()
        product = Product.objects.using("default").filter(pk=product_id).values("is_flash", "is_active").first()
        try:
            if not get_redis().exists(keys.flash_meta(product_id)):
                return
            if product and product["is_flash"] and product["is_active"]:
                flash_open(product_id=product_id)
            else:
                flash_close(product_id=product_id)
        except (RedisUnavailable, OrderError) as exc:
            logger.warning("flash sale %s not refreshed after edit: %s", product_id, exc)

    transaction.on_commit(refresh, using="default")
    # The home page's hot list shows products: one debounced rebuild, never a DB hit per request.
    usercenter_services.home_rebuild_schedule()


# ---------------------------------------------------------------- normal purchase

_BUY_SQL = """
UPDATE orders_product SET stock = stock - %s
 WHERE id = %s AND is_active AND NOT is_flash AND stock >= %s
RETURNING price_cents, name
"""


def _existing_order(*, token: str, user_id: int) -> dict | None:
    row = Order.objects.using("default").filter(token=token, user_id=user_id).values(*ORDER_FIELDS).first()
    return order_dict(row) if row else None


def order_create(*, user_id: int, product_id: int, quantity: int, idempotency_key: str) -> tuple[dict, bool]:
    """Buy `quantity` units: one transaction, a conditional stock UPDATE (no read-modify-write,
    no oversell), one order row. The same idempotency key again returns the first order.
    Returns (order, created)."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"quantity must be between 1 and {MAX_QUANTITY}.")
    idempotency_key = (idempotency_key or "").strip()
    if not 8 <= len(idempotency_key) <= 64:
        raise InvalidOrder("idempotency_key must be 8 to 64 characters.")
    # Scoped by user: one client's key can never return (or block) another user's order.
    token = f"n:{user_id}:{idempotency_key}"
    existing = _existing_order(token=token, user_id=user_id)
    if existing:
        return existing, False
    try:
        with transaction.atomic(using="default"):
            cursor = connections["default"].cursor()
            cursor.execute(_BUY_SQL, [quantity, product_id, quantity])
            row = cursor.fetchone()
            if row is None:
                product = Product.objects.filter(pk=product_id, is_active=True).values("is_flash", "stock").first()
                if product is None:
                    raise ProductNotFound("No such product.")
                if product["is_flash"]:
                    raise InvalidOrder("This product is sold in a flash sale: use the flash-sale buy.")
                raise OutOfStock("Out of stock.", stock=product["stock"])
            order = Order.objects.create(
                user_id=user_id,
                product_id=product_id,
                quantity=quantity,
                amount_cents=row[0] * quantity,
                source=Order.Source.NORMAL,
                token=token,
            )
            _orders_written(user_ids=[user_id])
            _stock_changed(product_ids=[product_id])
    except IntegrityError:
        # The same key raced with itself: the loser's stock decrement rolled back with it.
        existing = _existing_order(token=token, user_id=user_id)
        if existing:
            return existing, False
        raise
    return order_dict({**{f: getattr(order, f) for f in ORDER_FIELDS if "__" not in f}, "product__name": row[1]}), True


def _forget_product(product_id: int) -> None:
    with contextlib.suppress(RedisUnavailable):
        selectors.product_cache.delete(str(product_id))


def _stock_changed(*, product_ids) -> None:
    """Stock moved (a conditional UPDATE, which no signal sees): after commit drop the cached
    product, and republish its CDN files (debounced: a burst of sales costs one publish)."""
    product_ids = sorted(set(product_ids))

    def forget():
        for pid in product_ids:
            _forget_product(pid)

    transaction.on_commit(forget, using="default")
    staticgen_services.publish_schedule([f"products/{pid}.{ext}" for pid in product_ids for ext in ("json", "html")])


# ---------------------------------------------------------------- flash sale: buy

_sold_out: dict[int, float] = {}
_sold_out_lock = threading.Lock()


def flash_sold_out_locally(product_id: int) -> bool:
    until = _sold_out.get(product_id)
    return until is not None and until > time.monotonic()


def _mark_sold_out(product_id: int) -> None:
    with _sold_out_lock:
        _sold_out[product_id] = time.monotonic() + SOLD_OUT_FLAG_SECONDS


def flash_forget_sold_out(product_id: int | None = None) -> None:
    with _sold_out_lock:
        if product_id is None:
            _sold_out.clear()
        else:
            _sold_out.pop(product_id, None)


def flash_buy(*, user_id: int, product_id: int, quantity: int = 1) -> str:
    """One Lua call: window, per-user limit, stock, decrement, enqueue. Returns the order token
    (the order itself is written by the queue drain). Raises OrderError subclasses, and
    RedisUnavailable when Redis is down (the API answers 503)."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"quantity must be between 1 and {MAX_QUANTITY}.")
    if flash_sold_out_locally(product_id):
        raise FlashSoldOut("Sold out.")
    token = f"f{product_id}-{uuid.uuid4().hex}"
    now_ms = int(time.time() * 1000)
    (code, value), replicated = hot_script_replicated(
        load_script(FLASH_BUY_SCRIPT),
        keys=keys.flash_keys(product_id),
        args=[user_id, quantity, now_ms, token, product_id],
    )
    if code == 0:
        if value == 1:  # the queue went from empty to non-empty
            kick_drain()
        if not replicated:
            # Taken on the master, not yet on a replica (a failover now could lose it): no 202
            # yet; the token's status says what became of it.
            raise FlashUnconfirmed("Your purchase is being confirmed: check its status in a moment.", token=token)
        return token
    if code == 2:
        raise FlashNotStarted("The sale has not started yet.", starts_at=_ms_iso(value))
    if code == 3:
        raise FlashEnded("The sale has ended.")
    if code == 4:
        raise FlashLimitReached("You have reached the per-user limit for this sale.", bought=value)
    if code == 5:
        if value == 0:
            _mark_sold_out(product_id)
        raise FlashSoldOut("Sold out." if value == 0 else f"Only {value} left.", left=value)
    # Not loaded in Redis: is it a flash product at all? (The cached product, not per request SQL.)
    product = selectors.product_detail(product_id=product_id)
    if product is None or not product["is_flash"]:
        raise NotAFlashProduct("No flash sale for this product.")
    starts = datetime.fromisoformat(product["flash_starts_at"])
    ends = datetime.fromisoformat(product["flash_ends_at"])
    now = timezone.now()
    if now >= ends:
        raise FlashEnded("The sale has ended.")
    if now < starts:
        raise FlashNotStarted("The sale has not started yet.", starts_at=starts.isoformat())
    # Live, but Redis does not hold it (lost in a restart or a failover, or not loaded yet): ask
    # a worker to load it now (beat's flash_open_due does it anyway) and answer a retry.
    _request_flash_reload(product_id)
    raise FlashReloading("The sale is being loaded; retry in a moment.")


def _request_flash_reload(product_id: int) -> None:
    from orders.tasks import flash_open

    try:
        if get_redis().set(keys.flash_reload_lock(product_id), 1, nx=True, ex=4):
            flash_open.delay(product_id)
    except Exception:  # noqa: BLE001 - beat reloads it anyway; the buyer gets a 503 either way
        logger.warning("reload of flash sale %s not requested", product_id, exc_info=True)


def _ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.get_current_timezone()).isoformat()


# ---------------------------------------------------------------- flash sale: open

_OPEN_SCRIPT = """
-- KEYS: meta, stock, bought, status
-- ARGV: starts_ms, ends_ms, limit, stock, restock, expire_at, then user id / units pairs
redis.call('HSET', KEYS[1], 'starts_ms', ARGV[1], 'ends_ms', ARGV[2], 'limit', ARGV[3])
if ARGV[5] == '1' or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[4])
  -- A (re)load: per-user counts are at least what the database recorded, so a Redis that
  -- lost its data does not let anyone past the limit.
  for i = 7, #ARGV, 2 do
    local cur = tonumber(redis.call('HGET', KEYS[3], ARGV[i]) or '0')
    if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
  end
end
-- Placeholders so the hashes exist now and carry the expiry (the buy script only adds fields).
redis.call('HSETNX', KEYS[3], '_', 0)
redis.call('HSETNX', KEYS[4], '_', '-')
for i = 1, 4 do redis.call('EXPIREAT', KEYS[i], ARGV[6]) end
return tonumber(redis.call('GET', KEYS[2]))
"""


def flash_open(*, product_id: int, restock: bool = False) -> dict:
    """Load a sale into Redis: window, limit and (when not loaded yet, or with restock) its
    stock and per-user counts. Idempotent: without restock a loaded sale keeps its Redis state.

    Units loaded: the sale's allotment (`flash_stock`, or all of `stock` when 0) less what this
    window already sold (so reloading after a Redis loss never sells the allotment twice), never
    more than the database can supply once the queued units are written. With restock (an
    admin re-opening a sold-out sale) the allotment starts afresh."""
    product = Product.objects.using("default").filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound(f"No product {product_id}.")
    if not product.is_flash or not product.flash_starts_at or not product.flash_ends_at:
        raise NotAFlashProduct(f"Product {product_id} is not a flash-sale product.")
    client = get_redis()
    meta, stock, bought, _queue, status = keys.flash_keys(product_id)
    per_user: list = []
    units = 0
    if restock or not client.exists(stock):
        pending = flash_pending(product_id=product_id)["quantity"]
        sold_rows = (
            Order.objects.using("default")
            .filter(
                product_id=product_id,
                source=Order.Source.FLASH,
                created_at__gte=product.flash_starts_at,
                created_at__lt=product.flash_ends_at,
            )
            .values("user_id")
            .annotate(units=Sum("quantity"))
            .values_list("user_id", "units")
        )
        sold = 0
        for uid, n in sold_rows:
            per_user += [uid, n]
            sold += n
        supply = product.stock - pending
        if product.flash_stock:
            allotment = product.flash_stock if restock else product.flash_stock - sold - pending
            units = max(0, min(allotment, supply))
        else:
            units = max(0, supply)
    expire_at = int(product.flash_ends_at.timestamp()) + FLASH_KEYS_GRACE_SECONDS
    loaded = client.eval(
        _OPEN_SCRIPT,
        4,
        meta,
        stock,
        bought,
        status,
        int(product.flash_starts_at.timestamp() * 1000),
        int(product.flash_ends_at.timestamp() * 1000),
        product.flash_per_user_limit,
        units,
        "1" if restock else "0",
        expire_at,
        *per_user,
    )
    client.sadd(keys.FLASH_ACTIVE, product_id)
    flash_forget_sold_out(product_id)
    return {"product_id": product_id, "stock": int(loaded), "starts_at": product.flash_starts_at.isoformat()}


def flash_close(*, product_id: int) -> None:
    """Stop selling (product deactivated or no longer a flash product): without its meta hash
    the script refuses every buy. The queue, statuses and per-user counts stay, so accepted
    buys still become orders and late polls still answer."""
    get_redis().delete(keys.flash_meta(product_id), keys.flash_stock(product_id))
    flash_forget_sold_out(product_id)


# What PositiveSmallIntegerField holds (the per-user limit).
MAX_PER_USER_LIMIT = 32767


def flash_create(
    *,
    name: str,
    price_cents: int,
    stock: int,
    starts_at: datetime,
    ends_at: datetime,
    per_user_limit: int = 1,
    flash_stock: int = 0,
    description: str = "",
    image_url: str = "",
    rank: int = 0,
    open: bool = False,
) -> dict:
    """Create a flash-sale product (and with `open`, load it into Redis at once; otherwise the
    beat loads it FLASH_PRELOAD_SECONDS before it starts). Returns the product and what opened."""
    name = (name or "").strip()
    if not name or len(name) > Product._meta.get_field("name").max_length:
        raise InvalidOrder("name must be 1 to 200 characters.")
    if price_cents < 1:
        raise InvalidOrder("price must be at least 1 cent.")
    if stock < 1:
        raise InvalidOrder("stock must be at least 1.")
    if not 0 <= flash_stock <= stock:
        raise InvalidOrder(f"the flash allotment must be between 0 (all of the stock) and the stock ({stock}).")
    if not 1 <= per_user_limit <= MAX_PER_USER_LIMIT:
        raise InvalidOrder(f"the per-user limit must be between 1 and {MAX_PER_USER_LIMIT}.")
    if ends_at <= starts_at:
        raise InvalidOrder("the sale must end after it starts.")
    if ends_at <= timezone.now():
        raise InvalidOrder("the sale would already be over.")
    with transaction.atomic(using="default"):
        product = Product.objects.create(
            name=name,
            description=description,
            image_url=image_url,
            price_cents=price_cents,
            stock=stock,
            rank=rank,
            is_flash=True,
            flash_starts_at=starts_at,
            flash_ends_at=ends_at,
            flash_per_user_limit=per_user_limit,
            flash_stock=flash_stock,
        )
        product_changed(product_id=product.pk)
    opened = flash_open(product_id=product.pk) if open else None
    return {"product": product, "opened": opened}


def flash_end(*, product_id: int) -> dict:
    """Close a flash sale now, for good: its window ends now in the database (so the beat never
    loads it again and the API answers 410 "ended", as for a sale that ran out its time) and in
    Redis when loaded (the buy script itself answers 410, no lookup). Accepted buys still become
    orders. Safe to run twice: a sale already over keeps its end time and is only re-checked."""
    now = timezone.now()
    with transaction.atomic(using="default"):
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise ProductNotFound(f"No product {product_id}.")
        if not product.is_flash or not product.flash_starts_at or not product.flash_ends_at:
            raise NotAFlashProduct(f"Product {product_id} is not a flash-sale product.")
        closed_now = product.flash_ends_at > now
        if closed_now:
            product.flash_ends_at = now
            product.flash_starts_at = min(product.flash_starts_at, now)
            product.save(update_fields=["flash_starts_at", "flash_ends_at", "updated_at"])
    # After commit, not through product_changed: an operator must hear when Redis is down.
    selectors.product_cache.delete(str(product_id))
    selectors.product_cache.clear_local()
    loaded = bool(get_redis().exists(keys.flash_meta(product_id)))
    if loaded:
        flash_open(product_id=product_id)  # rewrites the window from the row: buys answer "ended"
    flash_forget_sold_out(product_id)
    usercenter_services.home_rebuild_schedule()
    return {
        "product_id": product_id,
        "closed_now": closed_now,
        "ended_at": product.flash_ends_at.isoformat(),
        "loaded": loaded,
        "pending": flash_pending(product_id=product_id)["events"] if loaded else 0,
    }


def flash_open_due() -> list[int]:
    """Beat: load every sale starting soon (and refresh loaded ones' windows); forget sales
    whose keys have expired."""
    now = timezone.now()
    due = list(
        Product.objects.filter(
            is_flash=True,
            is_active=True,
            flash_starts_at__lte=now + timedelta(seconds=FLASH_PRELOAD_SECONDS),
            flash_ends_at__gt=now,
        ).values_list("id", flat=True)
    )
    for pid in due:
        flash_open(product_id=pid)
    client = get_redis()
    for raw in client.smembers(keys.FLASH_ACTIVE):
        pid = int(raw)
        if not client.exists(keys.flash_meta(pid)) and not client.llen(keys.flash_queue(pid)):
            client.srem(keys.FLASH_ACTIVE, pid)
    return due


# ---------------------------------------------------------------- flash sale: the queue drain

_FLASH_INSERT = """
INSERT INTO orders_order (user_id, product_id, quantity, amount_cents, status, source, token, created_at)
SELECT u, p, q, a, 'created', 'flash', t, to_timestamp(ms / 1000.0)
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::bigint[])
       AS d(u, p, q, a, t, ms)
ON CONFLICT (token) DO NOTHING
RETURNING id, token, user_id, product_id, quantity
"""
_STOCK_UPDATE = """
UPDATE orders_product AS p SET stock = p.stock - d.q
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
        cursor.execute(
            "SELECT id, stock, price_cents FROM orders_product WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
            [int_array(product_ids)],
        )
        products = {pid: [stock, price] for pid, stock, price in cursor.fetchall()}
        cursor.execute(
            "SELECT token, id, user_id FROM orders_order WHERE token = ANY(%s)", [[e["token"] for e in events]]
        )
        for token, oid, uid in cursor.fetchall():
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
                _stock_changed(product_ids=pids)
        user_ids = {uid for _oid, uid in created.values()}
        # First after commit: the users' write position, so the refills read fresh rows.
        db_router.remember_writes(user_ids=user_ids)
        _orders_written(user_ids=user_ids)
        transaction.on_commit(lambda: _flash_statuses(events, created, rejected), using="default")
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
    try:
        members = get_redis().smembers(keys.FLASH_ACTIVE)
    except RedisUnavailable:
        return []
    return [keys.flash_queue(int(pid)) for pid in sorted(int(m) for m in members)]


def register_queues() -> None:
    register_queue_family(
        QUEUE_FAMILY, keys=flash_queue_keys, handler=flash_record_batch, prefix="flash:{", time_field="ts"
    )


# ---------------------------------------------------------------- flash sale: reconcile


def _queued_events(product_id: int) -> dict[str, dict]:
    """Events waiting in the queue or held by a consumer, by token. The queue is read before
    the processing lists, so an event moving between them is seen at least once."""
    queue = ReliableQueue(keys.flash_queue(product_id))
    client = get_redis()
    raw = list(client.lrange(queue.key, 0, -1))
    for cid in client.hkeys(queue.consumers_key):
        raw += client.lrange(queue.processing_key(cid.decode()), 0, -1)
    out = {}
    for item in raw:
        try:
            e = json.loads(item)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("token"):
            out[e["token"]] = e
    return out


def flash_pending(*, product_id: int) -> dict:
    events = _queued_events(product_id)
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
    product = Product.objects.using("default").filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound(f"No product {product_id}.")
    client = get_redis()
    _meta, stock_key, bought_key, _q, status_key = keys.flash_keys(product_id)
    statuses = {k.decode(): v.decode() for k, v in client.hgetall(status_key).items() if k != b"_"}
    queued = _queued_events(product_id)
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
    if fix and not report["ok"]:
        if restored_away:
            ReliableQueue(keys.flash_queue(product_id)).push(*restored_away)
            client.hset(status_key, mapping={e["token"]: f"p:{e['user_id']}" for e in restored_away})
            kick_drain()
        pipe = client.pipeline(transaction=False)
        for t, v in lost.items():
            pipe.hset(status_key, t, f"r:{v.split(':')[1]}")
        for t in stale_status:
            uid, _q, oid = db_tokens[t]
            pipe.hset(status_key, t, f"c:{uid}:{oid}")
        for uid, n in over_counted.items():
            pipe.hincrby(bought_key, str(uid), recorded.get(uid, 0) - n)
        pipe.execute()
        if redis_stock is not None:
            lost_qty = sum(over_counted.values()) - sum(recorded.get(u, 0) for u in over_counted)
            # Units of lost buys go back on sale, never above what the database can supply.
            report["redis_stock"] = int(client.eval(_CLAMP_STOCK, 1, stock_key, cap, max(0, lost_qty)))
        report["fixed"] = True
    return report


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


# ---------------------------------------------------------------- cache warming


def order_cache_warm(*, users: int = 1000, progress=None) -> int:
    """Fill page 1 for the users who ordered most recently (before a known spike)."""
    user_ids = list(
        Order.objects.values("user_id")
        .annotate(last=Max("created_at"))
        .order_by("-last")
        .values_list("user_id", flat=True)[:users]
    )
    for i, uid in enumerate(user_ids, 1):
        selectors.order_first_page(user_id=uid)
        if progress and (i % 100 == 0 or i == len(user_ids)):
            progress(i, len(user_ids))
    return len(user_ids)
