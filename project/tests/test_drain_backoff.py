"""The drains back off while the database is unreachable and resume by themselves: the primary
really stopped, events kept in their queue, pauses doubling, one warning a round."""

import time

import pytest
from django.db import connections

from project import queue
from project.redis import get_redis
from redpackets import keys, services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers

pytestmark = [pytest.mark.disruptive, pytest.mark.django_db(transaction=True)]


def test_drains_pause_longer_each_failed_round_and_resume_when_the_primary_is_back(devstack, caplog):
    campaign = make_campaign(total=1000, count=10)
    users = [uid for uid, _t in make_grabbers(5, "backoff")]
    for uid in users:
        assert services.grab(user_id=uid, campaign_id=campaign.pk).status == 200
    connections.close_all()
    devstack.stop("primary")
    try:
        first = queue.drain_all(time_budget=5, linger=0, exclusive=True)
        assert first.backing_off and sum(first.values()) == 0
        assert get_redis().ttl(queue.DB_BACKOFF_KEY) in (0, 1)
        # While paused, the drain does not even try (no connection attempt, no log line).
        paused = queue.drain_all(time_budget=5, linger=0, exclusive=True)
        assert paused.skipped and paused.backing_off
        time.sleep(1.1)
        second = queue.drain_all(time_budget=5, linger=0, exclusive=True)
        assert second.backing_off and 1 <= get_redis().ttl(queue.DB_BACKOFF_KEY) <= 2
        assert get_redis().llen(keys.queue(campaign.pk)) == 5  # nothing lost, nothing half written
        failures = [r for r in caplog.records if "database unavailable" in r.getMessage()]
        assert failures and not any(r.exc_info for r in failures)
    finally:
        devstack.start("primary")
        connections.close_all()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not sum(queue.drain_all(time_budget=5, linger=0, exclusive=True).values()):
        time.sleep(0.3)
    assert Grab.objects.filter(campaign=campaign).count() == 5
    assert not get_redis().exists(queue.DB_BACKOFF_KEY) and not get_redis().exists(queue.DB_BACKOFF_ROUNDS_KEY)
