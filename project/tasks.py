"""Kernel tasks: drain the reliable queues."""

import logging

from celery import shared_task

from project import metrics, queue
from project.redis import RedisUnavailable, get_redis

logger = logging.getLogger(__name__)

# One drain round's time budget: long enough to move thousands of events (and, lingering, to
# ride a storm in batches of useful size), short enough that a warm shutdown waits little.
DRAIN_TIME_BUDGET_SECONDS = 4.0
KICK_KEY = "queue:kick"


@shared_task(name="project.tasks.drain_queues", acks_late=True, ignore_result=True)
def drain_queues():
    """Drain every queue, one worker at a time: beat's ticks and kicks that find another worker
    draining return at once. A round that spent its budget while events kept coming hands over
    to a fresh task instead of waiting for beat's next tick."""
    report = queue.drain_all(time_budget=DRAIN_TIME_BUDGET_SECONDS, exclusive=True)
    if report.skipped:
        return {}
    queue.mark_drained()
    metrics.DRAIN_ROUNDS.inc()
    if report.unfinished:
        try:
            drain_queues.delay()
        except Exception:  # noqa: BLE001 - beat's next tick drains anyway
            logger.warning("could not chain the next drain round; beat will pick the work up", exc_info=True)
    return dict(report)


def kick_drain() -> None:
    """Ask a worker to drain now, at most once per second (the producers call this when a
    queue goes from empty to non-empty; beat covers everything else)."""
    try:
        if get_redis().set(KICK_KEY, 1, nx=True, px=1000):
            drain_queues.delay()
    except RedisUnavailable:
        logger.warning("could not kick the queue drain; beat will pick the work up")
