"""Reads of the orders app. Page 1 of a user's orders is cache-first; everything else reads the
replica through the router (the primary for a few seconds after the client's own write)."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re

from django.conf import settings

from orders import keys
from orders.models import Order, Product
from orders.serializers import ORDER_FIELDS, order_dict, product_dict
from project import db_router
from project.cache import TwoLevelCache
from project.redis import RedisUnavailable, get_redis, hot_command

logger = logging.getLogger(__name__)

PAGE_SIZE = 40
PRODUCT_PAGE_SIZE = 24
# Deepest page of a list (orders, products): deeper offsets are a scan nobody pages to.
MAX_PAGE = 10_000
# Page 1 lives this long without a write (10% jitter so keys filled together expire apart).
PAGE1_TTL_SECONDS = settings.ORDERS_PAGE1_TTL_SECONDS
PAGE1_TTL_JITTER = 0.1

# Store the freshly read page only if no invalidation happened since we read the generation:
# otherwise a slow fill could put a page without the newest order back after its write.
_FILL_IF_UNCHANGED = """
local gen = redis.call('GET', KEYS[2]) or ''
if gen == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# Shared, read-mostly product data: a short L1 keeps a storm on one product page off Redis too.
product_cache = TwoLevelCache("orders.product", l1_seconds=2, soft_seconds=30, hard_seconds=600)


class PageNotFound(Exception):
    pass


# ---------------------------------------------------------------- orders


def order_page_db(*, user_id: int, page: int) -> dict:
    """One page straight from the database: 41 rows tell whether a next page exists."""
    offset = (page - 1) * PAGE_SIZE
    rows = list(
        Order.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values(*ORDER_FIELDS)[offset : offset + PAGE_SIZE + 1]
    )
    return {
        "page": page,
        "page_size": PAGE_SIZE,
        "has_next": len(rows) > PAGE_SIZE,
        "results": [order_dict(r) for r in rows[:PAGE_SIZE]],
    }


def _dumps(page: dict) -> bytes:
    return json.dumps(page, separators=(",", ":")).encode()


def order_first_page_json(*, user_id: int) -> bytes:
    """Page 1 as the JSON the API sends: on a hit the bytes stored in Redis, as they are (one
    GET, zero SQL, nothing decoded or encoded); on a miss read from the replica and stored
    unless an order write invalidated it meanwhile. Redis down: straight from the database."""
    p1, gen_key = keys.page1_key(user_id), keys.page1_gen_key(user_id)
    try:
        raw = hot_command("GET", p1)
        if raw is not None:
            return raw
        client = get_redis()  # the miss path only
        gen = client.get(gen_key)  # before the read: a write after it makes the fill a no-op
    except RedisUnavailable:
        logger.warning("order page 1 of user %s read from the database: Redis unavailable", user_id)
        return _dumps(order_page_db(user_id=user_id, page=1))
    with db_router.reading_for(user_id):
        body = _dumps(order_page_db(user_id=user_id, page=1))
    ttl = int(PAGE1_TTL_SECONDS * (1 + random.uniform(0, PAGE1_TTL_JITTER)))
    with contextlib.suppress(RedisUnavailable):
        client.eval(_FILL_IF_UNCHANGED, 2, p1, gen_key, (gen or b"").decode(), body, max(ttl, 1))
    return body


def order_first_page(*, user_id: int) -> dict:
    """Page 1 as a dict (pages, warm-ups); see order_first_page_json."""
    return json.loads(order_first_page_json(user_id=user_id))


def order_page(*, user_id: int, page: int) -> dict:
    """Page N of the user's orders, newest first. Raises PageNotFound past the end."""
    data = order_first_page(user_id=user_id) if page == 1 else order_page_db(user_id=user_id, page=page)
    if page > 1 and not data["results"]:
        raise PageNotFound(f"Page {page} is past the end of your orders.")
    return data


def order_page_json(*, user_id: int, page: int) -> bytes:
    """order_page as the JSON bytes the API sends (page 1 without a decode/encode round)."""
    if page == 1:
        return order_first_page_json(user_id=user_id)
    return _dumps(order_page(user_id=user_id, page=page))


def order_count(*, user_id: int) -> int:
    """For the user center's cached hash (which caches it; this reads the database)."""
    return Order.objects.filter(user_id=user_id).count()


def order_get(*, user_id: int, order_id: int) -> dict | None:
    row = Order.objects.filter(user_id=user_id, pk=order_id).values(*ORDER_FIELDS).first()
    return order_dict(row) if row else None


# ---------------------------------------------------------------- products


def _product_from_db(product_id: int) -> dict | None:
    product = Product.objects.filter(pk=product_id, is_active=True).first()
    return product_dict(product) if product else None


def product_detail(*, product_id: int) -> dict | None:
    """One active product as a plain dict (the shape of `GET /api/products/<id>/`), cached."""
    return product_cache.get_or_compute(str(product_id), lambda: _product_from_db(product_id))


def product_detail_fresh(*, product_id: int) -> dict | None:
    """From the database, bypassing the cache (static generation after an edit)."""
    return _product_from_db(product_id)


def hot_products(*, limit: int = 20) -> list[dict]:
    """Active products by rank, hottest first (the home page caches this list)."""
    return [product_dict(p) for p in Product.objects.filter(is_active=True).order_by("-rank", "id")[:limit]]


def product_page(*, page: int, page_size: int = PRODUCT_PAGE_SIZE) -> dict:
    offset = (page - 1) * page_size
    products = list(Product.objects.filter(is_active=True).order_by("-rank", "id")[offset : offset + page_size + 1])
    if page > 1 and not products:
        raise PageNotFound(f"Page {page} is past the end of the product list.")
    return {
        "page": page,
        "page_size": page_size,
        "has_next": len(products) > page_size,
        "results": [product_dict(p) for p in products[:page_size]],
    }


def product_ids_active() -> list[int]:
    """For staticgen: every product that gets a `products/<id>.json`."""
    return list(Product.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))


# ---------------------------------------------------------------- flash sales


def flash_remaining(*, product_id: int) -> int | None:
    """Units left in Redis (None: the sale is not loaded, or Redis is down)."""
    try:
        raw = get_redis().get(keys.flash_stock(product_id))
    except RedisUnavailable:
        return None
    return None if raw is None else int(raw)


# services.flash_buy's tokens, exactly: anything else is unknown without a Redis or SQL lookup
# (and a NUL byte never reaches PostgreSQL, which refuses it).
_FLASH_TOKEN = re.compile(r"f([0-9]{1,19})-[0-9a-f]{32}")


def parse_flash_token(token: str) -> int | None:
    """Tokens look like `f<product id>-<32 hex>`: the product id finds the status hash's slot."""
    match = _FLASH_TOKEN.fullmatch(token)
    return int(match.group(1)) if match else None


def flash_token_status(*, token: str, user_id: int) -> dict | None:
    """pending | created {order_id} | rejected, for the token's owner only (None: unknown)."""
    product_id = parse_flash_token(token)
    if product_id is None:
        return None
    try:
        raw = get_redis().hget(keys.flash_status(product_id), token)
    except RedisUnavailable:
        raw = None
    if raw is not None:
        parts = raw.decode().split(":")
        if int(parts[1]) != user_id:
            return None
        if parts[0] == "c":
            return {"token": token, "status": "created", "order_id": int(parts[2])}
        if parts[0] == "r":
            return {"token": token, "status": "rejected"}
        return {"token": token, "status": "pending"}
    # Status gone (expired, or Redis was down): the database is the record.
    order_id = Order.objects.filter(token=token, user_id=user_id).values_list("id", flat=True).first()
    if order_id:
        return {"token": token, "status": "created", "order_id": order_id}
    return None


def user_center_fields(*, user_id: int) -> dict:
    """The orders' field group of the user center's hash."""
    return {"orders_count": order_count(user_id=user_id)}
