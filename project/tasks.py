"""Kernel tasks: drain the reliable queues."""

import logging

from celery import shared_task

from project import metrics, queue
from project.redis import RedisUnavailable, get_redis

logger = logging.getLogger(__name__)

# One drain round's time budget: long enough to move thousands of events, short enough that
# beat's next tick (every second, expiring after 5) finds a free worker.
DRAIN_TIME_BUDGET_SECONDS = 4.0
KICK_KEY = "queue:kick"


@shared_task(name="project.tasks.drain_queues", acks_late=True, ignore_result=True)
def drain_queues():
    result = queue.drain_all(time_budget=DRAIN_TIME_BUDGET_SECONDS)
    queue.mark_drained()
    metrics.DRAIN_ROUNDS.inc()
    return result


def kick_drain() -> None:
    """Ask a worker to drain now, at most once per second (the producers call this when a
    queue goes from empty to non-empty; beat covers everything else)."""
    try:
        if get_redis().set(KICK_KEY, 1, nx=True, px=1000):
            drain_queues.delay()
    except RedisUnavailable:
        logger.warning("could not kick the queue drain; beat will pick the work up")
