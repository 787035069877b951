"""Writes of the red-packet app, one module per feature: a campaign's lifecycle, the grab, the
queue drain, reconciliation. Everything callers use is re-exported here, so
`from redpackets import services` stays the one entry point."""

from redpackets.services.drain import grab_queue_keys, grab_record_batch, register_queues
from redpackets.services.errors import CampaignError, CampaignNotFound
from redpackets.services.grabbing import (
    GRAB_RATE_LIMIT,
    GRAB_RATE_WINDOW_MS,
    GRAB_SCRIPT,
    RELOAD_RETRY_AFTER_SECONDS,
    GrabResult,
    grab,
)
from redpackets.services.lifecycle import (
    CLOSE_SCRIPT,
    KEYS_GRACE_SECONDS,
    LUA,
    MAX_COUNT,
    MAX_TOTAL_CENTS,
    OPEN_SCRIPT,
    REFUND_KIND,
    campaign_close,
    campaign_create,
    campaign_get,
    campaign_open,
    campaign_window_changed,
    campaigns_expire_due,
    campaigns_reload_missing,
)
from redpackets.services.reconcile import (
    active_campaign_ids,
    campaign_reconcile,
    campaigns_reconcile_active,
    queued_grabs,
)
from redpackets.services.sale import GRAB_KIND, QUEUE_FAMILY, RED_PACKET_SALE

# Tests replace functions of usercenter's services through this name (one module object).
from usercenter import services as usercenter_services

__all__ = [
    "CLOSE_SCRIPT",
    "GRAB_KIND",
    "GRAB_RATE_LIMIT",
    "GRAB_RATE_WINDOW_MS",
    "GRAB_SCRIPT",
    "KEYS_GRACE_SECONDS",
    "LUA",
    "MAX_COUNT",
    "MAX_TOTAL_CENTS",
    "OPEN_SCRIPT",
    "QUEUE_FAMILY",
    "RED_PACKET_SALE",
    "REFUND_KIND",
    "RELOAD_RETRY_AFTER_SECONDS",
    "CampaignError",
    "CampaignNotFound",
    "GrabResult",
    "active_campaign_ids",
    "campaign_close",
    "campaign_create",
    "campaign_get",
    "campaign_open",
    "campaign_reconcile",
    "campaign_window_changed",
    "campaigns_expire_due",
    "campaigns_reconcile_active",
    "campaigns_reload_missing",
    "grab",
    "grab_queue_keys",
    "grab_record_batch",
    "queued_grabs",
    "register_queues",
    "usercenter_services",
]
