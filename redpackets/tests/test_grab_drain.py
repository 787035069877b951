"""The queue handler: Grab rows and wallet credits in one transaction, idempotent replays."""

import pytest
from django.db import connections

from project import queue as kernel_queue
from project.queue import ReliableQueue
from project.redis import get_redis
from redpackets import keys, selectors, services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign
from usercenter import selectors as usercenter_selectors
from usercenter import services as usercenter_services
from usercenter.models import LedgerEntry

pytestmark = pytest.mark.django_db


def drain(campaign):
    return ReliableQueue(keys.queue(campaign.pk)).consume(services.grab_record_batch)


def test_drained_grabs_become_rows_and_wallet_credits(make_user):
    campaign = make_campaign(total=1000, count=3)
    users = [make_user(f"d{i}") for i in range(3)]
    amounts = {u.pk: services.grab(user_id=u.pk, campaign_id=campaign.pk).body["amount_cents"] for u in users}
    assert drain(campaign) == 3
    assert dict(Grab.objects.filter(campaign=campaign).values_list("user_id", "amount_cents")) == amounts
    assert sum(amounts.values()) == 1000
    for u in users:
        assert usercenter_selectors.wallet_get(user_id=u.pk)["balance_cents"] == amounts[u.pk]
        entry = LedgerEntry.objects.get(user=u, kind="redpacket_grab")
        assert entry.reference == f"rp:{campaign.pk}:{u.pk}"


def test_a_replayed_batch_changes_nothing(make_user):
    campaign = make_campaign(total=1000, count=3)
    u = make_user("replay")
    amount = services.grab(user_id=u.pk, campaign_id=campaign.pk).body["amount_cents"]
    event = {"packet": campaign.pk, "user": u.pk, "amount": amount, "at": 1}
    services.grab_record_batch("q", [event, event])
    services.grab_record_batch("q", [event])
    assert Grab.objects.filter(campaign=campaign).count() == 1
    assert usercenter_selectors.wallet_get(user_id=u.pk)["balance_cents"] == amount
    assert LedgerEntry.objects.filter(user=u).count() == 1


def test_events_of_missing_users_or_malformed_are_dropped_not_blocking(make_user):
    campaign = make_campaign(total=1000, count=3)
    u = make_user("good")
    services.grab_record_batch(
        "q",
        [
            {"packet": campaign.pk, "user": 987654, "amount": 5, "at": 1},
            {"packet": campaign.pk, "user": "x"},
            {"packet": campaign.pk, "user": u.pk, "amount": 0},
            {"packet": campaign.pk, "user": u.pk, "amount": 7, "at": 1},
        ],
    )
    assert list(Grab.objects.values_list("user_id", "amount_cents")) == [(u.pk, 7)]


def test_the_grab_time_is_the_events_to_the_millisecond_and_an_impossible_one_is_dropped(make_user):
    from datetime import UTC, datetime

    campaign = make_campaign(total=1000, count=3)
    a, b = make_user("at-a"), make_user("at-b")
    services.grab_record_batch(
        "q",
        [
            {"packet": campaign.pk, "user": a.pk, "amount": 5, "at": 1795000000123},
            # Beyond any datetime: dropped here, not left to fail the whole batch's insert.
            {"packet": campaign.pk, "user": b.pk, "amount": 5, "at": 10**20},
        ],
    )
    assert list(Grab.objects.values_list("user_id", "grabbed_at")) == [
        (a.pk, datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC))
    ]


def test_the_user_hash_grab_fields_are_dropped_after_commit(make_user, django_capture_on_commit_callbacks):
    campaign = make_campaign(total=1000, count=3)
    u = make_user("hash")
    usercenter_services.user_hash_write(
        user_id=u.pk, fields={"grabs_count": 0, "grabs_total_cents": 0, "username": "hash"}, mode="fill"
    )
    amount = services.grab(user_id=u.pk, campaign_id=campaign.pk).body["amount_cents"]
    with django_capture_on_commit_callbacks(execute=True, using="default"):
        drain(campaign)
    h = get_redis().hgetall(usercenter_services.user_hash_key(u.pk))
    assert b"grabs_count" not in h and b"username" in h
    assert selectors.grab_summary(user_id=u.pk) == {"count": 1, "total_cents": amount}


def test_the_queue_family_lists_only_queues_with_work(make_user):
    idle = make_campaign()
    busy = make_campaign()
    services.grab(user_id=make_user("fam").pk, campaign_id=busy.pk)
    assert services.grab_queue_keys() == [keys.queue(busy.pk)]
    assert kernel_queue.families()[services.QUEUE_FAMILY].list_keys() == [keys.queue(busy.pk)]
    assert keys.queue(idle.pk) not in services.grab_queue_keys()
    assert kernel_queue.drain_all()[services.QUEUE_FAMILY] == 1


def test_a_failing_primary_puts_the_batch_back(make_user, monkeypatch):
    campaign = make_campaign()
    services.grab(user_id=make_user("fail").pk, campaign_id=campaign.pk)

    def broken(*a, **kw):
        raise connections["default"].Database.OperationalError("primary down")

    monkeypatch.setattr(services.usercenter_services, "wallet_credit_batch", broken)
    queue = ReliableQueue(keys.queue(campaign.pk))
    with pytest.raises(Exception, match="primary down"):
        queue.consume(services.grab_record_batch)
    assert queue.depth() == 1 and queue.in_flight() == 0
    assert Grab.objects.count() == 0
