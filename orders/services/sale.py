"""The flash sale as a queued sale: its keys and how a queued buy is identified."""

from orders import keys
from project.queued_sale import QueuedSale

FLASH_SALE = QueuedSale(
    family="orders.flash",
    prefix="flash:{",
    time_field="ts",
    active_key=keys.FLASH_ACTIVE,
    queue_key=keys.flash_queue,
    loaded_key=keys.flash_meta,
    reload_lock_key=keys.flash_reload_lock,
    event_id=lambda event: event["token"] or None,
    # Flash sales are few and each drain round should see a new sale's first buy at once.
    list_idle_queues=True,
)
QUEUE_FAMILY = FLASH_SALE.family
