"""The flash-sale buy: one Lua call gates the sale and queues the order (no SQL on the path)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from orders import keys, selectors
from orders.services.errors import (
    FlashEnded,
    FlashLimitReached,
    FlashNotStarted,
    FlashReloading,
    FlashSoldOut,
    FlashUnconfirmed,
    InvalidOrder,
    NotAFlashProduct,
)
from orders.services.purchase import MAX_QUANTITY
from orders.services.sale import FLASH_SALE

FLASH_BUY_SCRIPT = Path(__file__).parent.parent / "lua" / "flash_buy.lua"
# How long a process trusts its own "sold out" flag before asking Redis again. Every process
# (gunicorn worker) learns "sold out" from its own first 410 and forgets it after this long,
# so a re-opened or restocked sale is visible everywhere within these seconds, at the cost of
# one Redis call per process per period.
SOLD_OUT_FLAG_SECONDS = settings.ORDERS_SOLD_OUT_FLAG_SECONDS
# A reload of a live sale Redis lost is asked for at most once per this many seconds.
RELOAD_LOCK_SECONDS = 4

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
    (code, value), replicated = FLASH_SALE.gate(
        FLASH_BUY_SCRIPT,
        keys=keys.flash_keys(product_id),
        args=[user_id, quantity, now_ms, token, product_id],
        woke_at=1,
    )
    if code == 0:
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
    from orders.tasks import flash_open  # the tasks module imports the services

    FLASH_SALE.request_reload(product_id, task=flash_open, lock_seconds=RELOAD_LOCK_SECONDS)


def _ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.get_current_timezone()).isoformat()
