"""Reconciliation: Redis vs the database; a grab lost on the way is re-queued, never paid twice."""

import pytest
from django.core.management import call_command

from project.queue import ReliableQueue
from redpackets import keys, services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign
from usercenter import selectors as usercenter_selectors
from usercenter.models import LedgerEntry

pytestmark = pytest.mark.django_db


def drain(campaign):
    return ReliableQueue(keys.queue(campaign.pk)).consume(services.grab_record_batch)


def setup_grabs(make_user, n=3):
    campaign = make_campaign(total=1000, count=5)
    users = [make_user(f"r{i}") for i in range(n)]
    for u in users:
        services.grab(user_id=u.pk, campaign_id=campaign.pk)
    drain(campaign)
    return campaign, users


def test_a_consistent_campaign_reconciles_ok(make_user):
    campaign, _ = setup_grabs(make_user)
    report = services.campaign_reconcile(campaign_id=campaign.pk)
    assert report["ok"], report
    assert report["db_rows"] == report["redis_grabs"] == 3
    assert report["books_balance"]


def test_queued_grabs_are_not_reported_missing(make_user):
    campaign = make_campaign(total=1000, count=5)
    services.grab(user_id=make_user("q").pk, campaign_id=campaign.pk)
    report = services.campaign_reconcile(campaign_id=campaign.pk)
    assert report["ok"] and report["queued"] == 1 and report["missing"] == []


def test_reconcile_fix_restores_a_grab_row_deleted_by_hand_without_paying_twice(make_user, capsys):
    campaign, users = setup_grabs(make_user)
    victim = users[0]
    amount = Grab.objects.get(campaign=campaign, user=victim).amount_cents
    Grab.objects.filter(campaign=campaign, user=victim).delete()

    call_command("redpackets", "reconcile", str(campaign.pk))
    out = capsys.readouterr().out
    assert "missing 1" in out and "re-queued" not in out
    assert Grab.objects.filter(campaign=campaign).count() == 2

    call_command("redpackets", "reconcile", "--fix", str(campaign.pk))
    assert "re-queued 1" in capsys.readouterr().out
    drain(campaign)
    assert Grab.objects.get(campaign=campaign, user=victim).amount_cents == amount
    assert usercenter_selectors.wallet_get(user_id=victim.pk)["balance_cents"] == amount  # not twice
    assert LedgerEntry.objects.filter(user=victim).count() == 1
    assert services.campaign_reconcile(campaign_id=campaign.pk)["ok"]


def test_a_row_redis_does_not_know_is_added_to_the_grabbed_set(make_user):
    from project.redis import get_redis

    campaign, users = setup_grabs(make_user)
    get_redis().hdel(keys.grabbed(campaign.pk), users[1].pk)
    report = services.campaign_reconcile(campaign_id=campaign.pk, fix=True)
    assert report["unknown_in_redis"] == [users[1].pk]
    assert services.grab(user_id=users[1].pk, campaign_id=campaign.pk).status == 409


def test_the_beat_task_reconciles_active_campaigns(make_user):
    from redpackets.tasks import reconcile_active

    campaign, users = setup_grabs(make_user)
    Grab.objects.filter(campaign=campaign, user=users[2]).delete()
    assert reconcile_active() == {campaign.pk: False}
    drain(campaign)
    assert Grab.objects.filter(campaign=campaign).count() == 3
