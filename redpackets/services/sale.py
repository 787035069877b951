"""The red packet as a queued sale: its keys, how a queued grab is identified and what a grab
credits."""

from project.queued_sale import QueuedSale
from redpackets import keys

# The keys module names its keys as the pipeline asks for them.
RED_PACKET_SALE = QueuedSale(family="redpackets.grabs", time_field="at", keys=keys, event_id=lambda e: int(e["user"]))
QUEUE_FAMILY = RED_PACKET_SALE.family
GRAB_KIND = "redpacket_grab"
