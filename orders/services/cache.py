"""What shows orders learns about order and stock writes (after commit); cache warming."""

from __future__ import annotations

import contextlib
import logging

from django.db import transaction
from django.db.models import Max

from orders import keys, selectors
from orders.models import Order
from project.redis import RedisUnavailable, hot_pipeline
from staticgen import services as staticgen_services
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)


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


def orders_forget(*, user_ids) -> None:
    """Everything that shows these users' orders forgets it. Call after commit."""
    user_ids = sorted(set(user_ids))
    order_list_forget(user_ids=user_ids)
    usercenter_services.user_fields_invalidate_many(user_ids=user_ids, group="orders")


def orders_written(*, user_ids) -> None:
    """Everything that shows a user's orders learns about the write, after commit."""
    user_ids = sorted(set(user_ids))
    transaction.on_commit(lambda: orders_forget(user_ids=user_ids), using="default")


def orders_imported(*, user_ids) -> None:
    """Orders written in bulk outside the services (demo data, imports): drop the caches after
    commit, as every other order write does."""
    orders_written(user_ids=user_ids)


def _forget_product(product_id: int) -> None:
    with contextlib.suppress(RedisUnavailable):
        selectors.product_cache.delete(str(product_id))


def stock_changed(*, product_ids) -> None:
    """Stock moved (a conditional UPDATE, which no signal sees): after commit drop the cached
    product, and republish its CDN files (debounced: a burst of sales costs one publish)."""
    product_ids = sorted(set(product_ids))

    def forget():
        for pid in product_ids:
            _forget_product(pid)

    transaction.on_commit(forget, using="default")
    staticgen_services.publish_schedule([f"products/{pid}.{ext}" for pid in product_ids for ext in ("json", "html")])


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
