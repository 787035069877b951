"""The grab end to end: real HTTP against a real gunicorn (two worker processes), real Celery
workers draining the queues, workers SIGKILLed mid-batch, and the primary stopped mid-storm."""

import random
import threading
import time

import pytest
from django.db import connections
from django.db.models import Sum

from project import testing
from project.queue import ReliableQueue
from project.tasks import drain_queues
from redpackets import keys, services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers
from usercenter.auth import cached_user, verify_token
from usercenter.models import LedgerEntry

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for_drain(campaign, expected: int, timeout: float = 60.0) -> None:
    testing.wait_for_drain(
        keys.queue(campaign.pk), lambda: Grab.objects.filter(campaign=campaign).count(), expected, timeout
    )


def assert_persisted_exactly(campaign, won: dict[int, int]) -> None:
    """Every 200 is exactly one row with its amount, and exactly one ledger credit."""
    rows = dict(Grab.objects.filter(campaign=campaign).values_list("user_id", "amount_cents"))
    assert rows == won
    ledger = LedgerEntry.objects.filter(kind="redpacket_grab", reference__startswith=f"rp:{campaign.pk}:")
    assert ledger.count() == len(won)
    assert ledger.aggregate(s=Sum("amount_cents"))["s"] == sum(won.values())
    report = services.campaign_reconcile(campaign_id=campaign.pk)
    assert report["ok"], report


def test_2000_concurrent_grabs_by_500_users_on_300_shares_pay_exactly_the_total(
    live_gunicorn, celery_worker, token_for
):
    campaign = make_campaign(total=300_00, count=300)
    grabbers = make_grabbers(500, "storm", token_for)
    attempts = grabbers * 4
    random.Random(7).shuffle(attempts)
    results = testing.storm_http(f"{live_gunicorn.url}/api/redpackets/{campaign.pk}/grab/", attempts)

    statuses = [s for _u, s, _b in results]
    assert statuses.count(200) == 300, {s: statuses.count(s) for s in set(statuses)}
    assert set(statuses) <= {200, 409, 410}
    won = {}
    for uid, status, body in results:
        if status == 200:
            assert uid not in won  # no user twice
            won[uid] = body["amount_cents"]
    assert sum(won.values()) == 300_00
    for uid, status, body in results:
        if status == 409:
            assert body["amount_cents"] == won[uid]  # the earlier amount, not a new one
    wait_for_drain(campaign, 300)
    assert Grab.objects.filter(campaign=campaign).aggregate(s=Sum("amount_cents"))["s"] == 300_00
    assert_persisted_exactly(campaign, won)


def test_consumers_sigkilled_mid_batch_during_a_storm_lose_and_duplicate_nothing(celery_worker_factory):
    campaign = make_campaign(total=400_00, count=400)
    grabbers = make_grabbers(450, "kill")
    won: dict[int, int] = {}
    done = threading.Event()

    def storm():
        try:
            for uid, _token in grabbers:
                result = services.grab(user_id=uid, campaign_id=campaign.pk)
                if result.status == 200:
                    won[uid] = result.body["amount_cents"]
                time.sleep(0.015)
        finally:
            done.set()

    storm_thread = threading.Thread(target=storm)
    storm_thread.start()
    queue = ReliableQueue(keys.queue(campaign.pk))
    # Small batches, each holding its transaction open a while: the kills land mid-batch. The
    # reaper hands a dead consumer's batch back after QUEUE_CONSUMER_TTL_SECONDS.
    slow = {"QUEUE_CONSUMER_TTL_SECONDS": 2, "QUEUE_BATCH_SIZE": 15, "SURGE_TEST_DRAIN_PAUSE_SECONDS": 0.4}
    kills = 0
    for i in range(3):
        worker = celery_worker_factory(f"victim{i}", **slow)
        deadline = time.monotonic() + 30
        while queue.in_flight() == 0:
            assert time.monotonic() < deadline, "the worker never took a batch"
            drain_queues.delay()
            time.sleep(0.05)
        worker.kill()
        kills += 1
        assert queue.in_flight() > 0  # a batch was taken and never acknowledged
    storm_thread.join()
    assert done.is_set() and kills == 3
    assert len(won) == 400
    celery_worker_factory("rescuer", QUEUE_CONSUMER_TTL_SECONDS=2)
    wait_for_drain(campaign, 400)
    assert_persisted_exactly(campaign, won)


@pytest.mark.disruptive
def test_grabs_keep_answering_200_while_the_primary_is_down_and_are_persisted_after(
    live_gunicorn, celery_worker, devstack
):
    campaign = make_campaign(total=150_00, count=150)
    grabbers = make_grabbers(200, "pd")
    for _uid, token in grabbers:  # what the first requests do: publish the revoked-token list, cache the user
        cached_user(verify_token(token))
    connections.close_all()
    devstack.stop("primary")
    try:
        results = testing.storm_http(f"{live_gunicorn.url}/api/redpackets/{campaign.pk}/grab/", grabbers, threads=20)
        statuses = [s for _u, s, _b in results]
        assert statuses.count(200) == 150, {s: statuses.count(s) for s in set(statuses)}
        assert set(statuses) == {200, 410}
        time.sleep(1.5)  # the worker tries, fails and puts the batch back
        queue = ReliableQueue(keys.queue(campaign.pk))
        assert queue.depth() + queue.in_flight() == 150
    finally:
        devstack.start("primary")
        connections.close_all()
    won = {uid: body["amount_cents"] for uid, s, body in results if s == 200}
    wait_for_drain(campaign, 150)
    assert_persisted_exactly(campaign, won)
