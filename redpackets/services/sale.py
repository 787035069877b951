"""The red packet as a queued sale: its keys, how a queued grab is identified, what a grab
credits and which cached user fields it changes."""

from project.queued_sale import QueuedSale
from redpackets import keys

# The keys module names its keys as the pipeline asks for them.
RED_PACKET_SALE = QueuedSale(family="redpackets.grabs", time_field="at", keys=keys, event_id=lambda e: int(e["user"]))
QUEUE_FAMILY = RED_PACKET_SALE.family
GRAB_KIND = "redpacket_grab"
USER_HASH_FIELDS = ["grabs_count", "grabs_total_cents"]
