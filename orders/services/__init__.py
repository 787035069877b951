"""Writes of the orders app, one module per feature: normal purchases, the flash-sale buy, a
sale's lifecycle, the queue drain, reconciliation, cache invalidation. Everything callers use
is re-exported here, so `from orders import services` stays the one entry point."""

from orders.services.cache import (
    order_cache_warm,
    order_list_forget,
    orders_forget,
    orders_imported,
    orders_written,
    stock_changed,
)
from orders.services.drain import flash_queue_keys, flash_record_batch, register_queues
from orders.services.errors import (
    FlashEnded,
    FlashLimitReached,
    FlashNotStarted,
    FlashReloading,
    FlashSoldOut,
    FlashUnconfirmed,
    InvalidOrder,
    NotAFlashProduct,
    OrderError,
    OutOfStock,
    ProductNotFound,
)
from orders.services.flash_purchase import (
    FLASH_BUY_SCRIPT,
    SOLD_OUT_FLAG_SECONDS,
    flash_buy,
    flash_forget_sold_out,
    flash_sold_out_locally,
)
from orders.services.lifecycle import (
    FLASH_KEYS_GRACE_SECONDS,
    FLASH_PRELOAD_SECONDS,
    MAX_PER_USER_LIMIT,
    flash_close,
    flash_create,
    flash_end,
    flash_open,
    flash_open_due,
    product_changed,
)
from orders.services.purchase import MAX_QUANTITY, order_create
from orders.services.reconcile import flash_pending, flash_reconcile, flash_reconcile_active
from orders.services.sale import FLASH_SALE, QUEUE_FAMILY

__all__ = [
    "FLASH_BUY_SCRIPT",
    "FLASH_KEYS_GRACE_SECONDS",
    "FLASH_PRELOAD_SECONDS",
    "FLASH_SALE",
    "MAX_PER_USER_LIMIT",
    "MAX_QUANTITY",
    "QUEUE_FAMILY",
    "SOLD_OUT_FLAG_SECONDS",
    "FlashEnded",
    "FlashLimitReached",
    "FlashNotStarted",
    "FlashReloading",
    "FlashSoldOut",
    "FlashUnconfirmed",
    "InvalidOrder",
    "NotAFlashProduct",
    "OrderError",
    "OutOfStock",
    "ProductNotFound",
    "flash_buy",
    "flash_close",
    "flash_create",
    "flash_end",
    "flash_forget_sold_out",
    "flash_open",
    "flash_open_due",
    "flash_pending",
    "flash_queue_keys",
    "flash_reconcile",
    "flash_reconcile_active",
    "flash_record_batch",
    "flash_sold_out_locally",
    "order_cache_warm",
    "order_create",
    "order_list_forget",
    "orders_forget",
    "orders_imported",
    "orders_written",
    "product_changed",
    "register_queues",
    "stock_changed",
]
