"""A campaign's life: create (split the shares), open (load into Redis), refresh its window,
close and refund, the beats that close campaigns past their end and reload those Redis lost."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from project.redis import load_script
from redpackets import keys, splitting
from redpackets.models import Campaign, Grab
from redpackets.services.errors import CampaignError, CampaignNotFound
from redpackets.services.sale import RED_PACKET_SALE
from staticgen import services as staticgen_services
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)

LUA = Path(__file__).parent.parent / "lua"
OPEN_SCRIPT = LUA / "open.lua"
CLOSE_SCRIPT = LUA / "close.lua"
REFUND_KIND = "redpacket_refund"

# A campaign's keys outlive its end by this long, so late clicks get 409/410 (not 404) and
# reconciliation can still compare Redis with the database.
KEYS_GRACE_SECONDS = settings.REDPACKETS_KEYS_GRACE_SECONDS
# Upper bounds that keep one campaign's Redis load and Lua scripts small.
MAX_COUNT = settings.REDPACKETS_MAX_COUNT
MAX_TOTAL_CENTS = settings.REDPACKETS_MAX_TOTAL_CENTS


def campaign_create(
    *,
    title: str,
    total_cents: int,
    count: int,
    starts_at: datetime,
    ends_at: datetime,
    split_method: str = splitting.DOUBLE_AVERAGE,
    owner_id: int | None = None,
    open: bool = False,  # noqa: A002 - reads best at the call site: campaign_create(..., open=True)
) -> Campaign:
    """Create a campaign with its shares split now (and load it into Redis with open=True).
    Raises CampaignError on bad input."""
    title = (title or "").strip()[:120]
    if not title:
        raise CampaignError("A title is required.")
    if not isinstance(total_cents, int) or not isinstance(count, int):
        raise CampaignError("total_cents and count must be whole numbers.")
    if not 1 <= count <= MAX_COUNT:
        raise CampaignError(f"count must be between 1 and {MAX_COUNT}.")
    if not count <= total_cents <= MAX_TOTAL_CENTS:
        raise CampaignError(f"total_cents must be at least count ({count}) and at most {MAX_TOTAL_CENTS}.")
    if ends_at <= starts_at:
        raise CampaignError("ends_at must be after starts_at.")
    if split_method not in splitting.METHODS:
        raise CampaignError(f"split must be one of {', '.join(splitting.METHODS)}.")
    if owner_id is not None and not get_user_model().objects.filter(pk=owner_id).exists():
        raise CampaignError(f"No user {owner_id} to own the campaign.")
    campaign = Campaign.objects.create(
        title=title,
        total_cents=total_cents,
        count=count,
        split_method=split_method,
        shares=splitting.split(total_cents, count, split_method),
        starts_at=starts_at,
        ends_at=ends_at,
        owner_id=owner_id,
    )
    if open:
        campaign_open(campaign_id=campaign.pk)
        campaign.refresh_from_db()
    return campaign


def campaign_get(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.using("default").filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignNotFound(f"No campaign {campaign_id}.")
    return campaign


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _expire_at(campaign: Campaign) -> int:
    return int(campaign.ends_at.timestamp()) + KEYS_GRACE_SECONDS


def campaign_open(*, campaign_id: int) -> dict:
    """Load the campaign into Redis (its window, its shares and who already grabbed) and mark it
    open. Idempotent: a loaded campaign only gets its window refreshed (an admin edit), never its
    shares reloaded. When Redis lost a loaded campaign, the reload is the stored shares minus the
    amounts already persisted (grabs that were only in the lost queue cannot be recovered)."""
    campaign = campaign_get(campaign_id)
    if campaign.status == Campaign.Status.CLOSED:
        raise CampaignError(f"Campaign {campaign_id} is closed; it cannot be opened again.")
    persisted = list(
        Grab.objects.using("default").filter(campaign_id=campaign_id).values_list("user_id", "amount_cents")
    )
    # The stored shares minus one share per persisted grab of that amount (a multiset
    # difference); on a first open nothing is persisted and every share is loaded.
    owed = Counter(a for _u, a in persisted)
    shares = []
    for s in campaign.shares:
        if owed[s] > 0:
            owed[s] -= 1
        else:
            shares.append(int(s))
    args: list = [
        _ms(campaign.starts_at),
        _ms(campaign.ends_at),
        _expire_at(campaign),
        campaign.total_cents,
        campaign.count,
        len(shares),
        *shares,
    ]
    for uid, amount in persisted:
        args += [uid, amount]
    loaded_now, shares_left = load_script(OPEN_SCRIPT)(
        keys=[keys.meta(campaign_id), keys.amounts(campaign_id), keys.grabbed(campaign_id)], args=args
    )
    RED_PACKET_SALE.watch(campaign_id)
    if campaign.status == Campaign.Status.DRAFT:
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.DRAFT).update(
            status=Campaign.Status.OPEN, opened_at=timezone.now()
        )
        _campaign_page_changed(campaign_id)
    return {"campaign_id": campaign_id, "loaded_now": bool(loaded_now), "shares_left": int(shares_left)}


def _campaign_page_changed(campaign_id: int) -> None:
    """Opening and closing are conditional UPDATEs (no save signal): republish the campaign's
    CDN page (an upcoming campaign's page appears, a closed one's goes)."""
    staticgen_services.publish_schedule([f"redpackets/{campaign_id}.html", "sitemap.xml"])


def campaign_window_changed(*, campaign_id: int) -> None:
    """After an admin edit of the window: a loaded campaign gets the new window, after commit."""

    def refresh():
        campaign = Campaign.objects.using("default").filter(pk=campaign_id).values("status").first()
        if campaign and campaign["status"] == Campaign.Status.OPEN:
            campaign_open(campaign_id=campaign_id)

    RED_PACKET_SALE.refresh_after_commit(campaign_id, refresh=refresh, errors=(CampaignError,))


def campaign_close(*, campaign_id: int) -> dict:
    """Stop grabs for good and refund what was never grabbed to the owner (ledger kind
    redpacket_refund, reference rp:<id>:refund). Idempotent: re-running it changes nothing.

    The refund is the sum of the shares still in Redis after the close script ran: a grab the
    script already accepted (even if still waiting in the queue) is the grabber's, never
    refunded. Raises RedisUnavailable (the beat task retries on its next run)."""
    campaign = campaign_get(campaign_id)
    if campaign.status == Campaign.Status.CLOSED:
        return _close_report(campaign, already=True)
    loaded, _n_left, cents_left, _grabs = load_script(CLOSE_SCRIPT)(
        keys=[keys.meta(campaign_id), keys.amounts(campaign_id), keys.grabbed(campaign_id)], args=[]
    )
    if not loaded:
        if campaign.status == Campaign.Status.DRAFT:
            cents_left = campaign.total_cents  # never opened: nobody could grab anything
        else:
            # Redis lost the campaign (and with it any unpersisted grab): the database is all
            # that is left to go by.
            persisted = sum(
                Grab.objects.using("default").filter(campaign_id=campaign_id).values_list("amount_cents", flat=True)
            )
            cents_left = campaign.total_cents - persisted
            logger.warning("campaign %s closed without its Redis state; refund from the database", campaign_id)
    refund = int(cents_left) if campaign.owner_id else 0
    with transaction.atomic(using="default"):
        claimed = (
            Campaign.objects.filter(pk=campaign_id)
            .exclude(status=Campaign.Status.CLOSED)
            .update(status=Campaign.Status.CLOSED, closed_at=timezone.now(), refunded_cents=refund)
        )
        if claimed and refund > 0:
            usercenter_services.wallet_credit(
                user_id=campaign.owner_id,
                kind=REFUND_KIND,
                reference=f"rp:{campaign_id}:refund",
                amount_cents=refund,
                memo=f"Red packet #{campaign_id} not fully grabbed"[:200],
            )
    if not campaign.owner_id and cents_left:
        logger.warning("campaign %s has no owner: %s cents left are not refunded", campaign_id, cents_left)
    if claimed:
        _campaign_page_changed(campaign_id)
    return _close_report(campaign_get(campaign_id), already=not claimed)


def _close_report(campaign: Campaign, *, already: bool) -> dict:
    return {
        "campaign_id": campaign.pk,
        "status": campaign.status,
        "refunded_cents": campaign.refunded_cents or 0,
        "already_closed": already,
    }


def campaigns_expire_due() -> list[dict]:
    """Beat: close (and refund) every open campaign past its end; stop watching the queues of
    closed campaigns that are fully drained."""
    now = timezone.now()
    due = list(
        Campaign.objects.using("default")
        .filter(status=Campaign.Status.OPEN, ends_at__lte=now)
        .values_list("id", flat=True)
        .order_by("ends_at")[:100]
    )
    done = [campaign_close(campaign_id=cid) for cid in due]
    _prune_active()
    return done


def _prune_active() -> None:
    ids = RED_PACKET_SALE.active_ids()
    if not ids:
        return
    closed = Campaign.objects.using("default").filter(pk__in=ids, status=Campaign.Status.CLOSED)
    RED_PACKET_SALE.unwatch_drained(closed.values_list("id", flat=True))


def campaigns_reload_missing() -> list[int]:
    """Beat: every open campaign in its window that Redis does not hold (Redis restarted empty,
    or failed over to a replica that was behind) is loaded again from the database, with who
    already grabbed. Returns the campaigns reloaded. Raises RedisUnavailable."""
    ids = list(
        Campaign.objects.using("default")
        .filter(status=Campaign.Status.OPEN, ends_at__gt=timezone.now())
        .order_by("ends_at")
        .values_list("id", flat=True)[:1000]
    )
    missing = RED_PACKET_SALE.missing(ids)
    for cid in missing:
        campaign_open(campaign_id=cid)
        logger.warning("red packet %s was missing from Redis: reloaded from the database", cid)
    return missing
