"""The red packet as a queued sale: its keys, how a queued grab is identified, what a grab
credits and which cached user fields it changes."""

from project.queued_sale import QueuedSale
from redpackets import keys

RED_PACKET_SALE = QueuedSale(
    family="redpackets.grabs",
    prefix="rp:{",
    time_field="at",
    active_key=keys.ACTIVE,
    queue_key=keys.queue,
    loaded_key=keys.meta,
    reload_lock_key=keys.reload_lock,
    event_id=lambda event: int(event["user"]),
)
QUEUE_FAMILY = RED_PACKET_SALE.family
GRAB_KIND = "redpacket_grab"
USER_HASH_FIELDS = ["grabs_count", "grabs_total_cents"]
