"""Closing a campaign after its end: the ungrabbed remainder goes back to the owner, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from project.queue import ReliableQueue
from project.redis import get_redis
from redpackets import keys, services
from redpackets.models import Campaign
from redpackets.tasks import expire_due
from redpackets.tests.factories import make_campaign
from usercenter import selectors as usercenter_selectors
from usercenter.models import LedgerEntry

pytestmark = pytest.mark.django_db


def test_expiry_refunds_only_shares_never_grabbed_and_is_idempotent(make_user):
    owner = make_user("owner")
    campaign = make_campaign(total=1000, count=5, owner=owner)
    grabbers = [make_user(f"g{i}") for i in range(2)]
    grabbed = sum(services.grab(user_id=u.pk, campaign_id=campaign.pk).body["amount_cents"] for u in grabbers)
    # Nothing is persisted yet: the queued grabs are the grabbers', never refunded.
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    expire_due()
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    assert campaign.refunded_cents == 1000 - grabbed
    assert usercenter_selectors.wallet_get(user_id=owner.pk)["balance_cents"] == 1000 - grabbed
    # Again: nothing changes.
    expire_due()
    again = services.campaign_close(campaign_id=campaign.pk)
    assert again["already_closed"] and again["refunded_cents"] == 1000 - grabbed
    assert usercenter_selectors.wallet_get(user_id=owner.pk)["balance_cents"] == 1000 - grabbed
    assert LedgerEntry.objects.filter(kind="redpacket_refund").count() == 1
    # The queued grabs still drain into rows after the close.
    ReliableQueue(keys.queue(campaign.pk)).consume(services.grab_record_batch)
    assert campaign.grabs.count() == 2
    # Grabs after the close are refused.
    assert services.grab(user_id=make_user("late").pk, campaign_id=campaign.pk).status == 410


def test_a_sold_out_campaign_refunds_nothing(make_user):
    owner = make_user("owner2")
    campaign = make_campaign(total=10, count=2, owner=owner)
    for i in range(2):
        services.grab(user_id=make_user(f"s{i}").pk, campaign_id=campaign.pk)
    report = services.campaign_close(campaign_id=campaign.pk)
    assert report["refunded_cents"] == 0
    assert not LedgerEntry.objects.filter(kind="redpacket_refund").exists()


def test_a_campaign_still_running_is_not_expired():
    campaign = make_campaign()
    expire_due()
    campaign.refresh_from_db()
    assert campaign.status == "open"


def test_a_closed_and_drained_campaign_leaves_the_drain_watch_list(make_user):
    campaign = make_campaign(owner=make_user("o3"))
    assert get_redis().sismember(keys.ACTIVE, campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    expire_due()
    assert not get_redis().sismember(keys.ACTIVE, campaign.pk)


def test_a_draft_closed_refunds_the_whole_total(make_user):
    owner = make_user("o4")
    campaign = make_campaign(total=500, count=5, owner=owner, open=False)
    assert services.campaign_close(campaign_id=campaign.pk)["refunded_cents"] == 500
