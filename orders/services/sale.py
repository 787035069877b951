"""The flash sale as a queued sale: its keys and how a queued buy is identified."""

from orders import keys
from project.queued_sale import QueuedSale


class _FlashKeys:
    """The flash-sale keys under the names the queued-sale pipeline asks for."""

    ACTIVE = keys.FLASH_ACTIVE
    queue = staticmethod(keys.flash_queue)
    meta = staticmethod(keys.flash_meta)
    reload_lock = staticmethod(keys.flash_reload_lock)


FLASH_SALE = QueuedSale(
    family="orders.flash",
    time_field="ts",
    keys=_FlashKeys(),
    event_id=lambda e: e["token"] or None,
    # Flash sales are few and each drain round should see a new sale's first buy at once.
    list_idle_queues=True,
)
QUEUE_FAMILY = FLASH_SALE.family
