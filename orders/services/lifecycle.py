"""A flash sale's life: create, load into Redis (open), stop (close), end for good, the beat
that loads sales starting soon, and what an admin edit of a product changes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from orders import keys, lock_objects, selectors
from orders.models import Order, Product
from orders.services.errors import InvalidOrder, NotAFlashProduct, OrderError, ProductNotFound
from orders.services.flash_purchase import flash_forget_sold_out
from orders.services.reconcile import flash_pending
from orders.services.sale import FLASH_SALE
from project.redis import RedisUnavailable, get_redis
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)

# Flash keys outlive the sale by this long, so late status polls and reconciliation still work.
FLASH_KEYS_GRACE_SECONDS = settings.ORDERS_FLASH_KEYS_GRACE_SECONDS
# The beat task loads a sale's stock this long before it starts (early buyers then get 425
# from the script instead of a database lookup).
FLASH_PRELOAD_SECONDS = settings.ORDERS_FLASH_PRELOAD_SECONDS


def product_changed(*, product_id: int) -> None:
    """After an admin edit: drop the cached product and refresh a loaded sale's window/limit."""

    def forget():
        try:
            selectors.product_cache.delete(str(product_id))
        except RedisUnavailable:
            logger.warning("product %s cache not dropped: Redis unavailable", product_id)
        selectors.product_cache.clear_local()

    def refresh():
        product = Product.objects.using("default").filter(pk=product_id).values("is_flash", "is_active").first()
        if not get_redis().exists(keys.flash_meta(product_id)):
            return
        if product and product["is_flash"] and product["is_active"]:
            flash_open(product_id=product_id)
        else:
            flash_close(product_id=product_id)

    transaction.on_commit(forget, using="default")
    FLASH_SALE.refresh_after_commit(product_id, refresh=refresh, errors=(OrderError,))
    # The home page's hot list shows products: one debounced rebuild, never a DB hit per request.
    usercenter_services.home_rebuild_schedule()


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
    FLASH_SALE.watch(product_id)
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
    max_length = Product._meta.get_field("name").max_length  # noqa: SLF001 - Django's documented metadata API
    if not name or len(name) > max_length:
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
        product = lock_objects.product_for_update(product_id).first()
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
    FLASH_SALE.unwatch_drained(FLASH_SALE.missing(FLASH_SALE.active_ids()))
    return due
