"""Thin Celery tasks of the user center."""

import contextlib

from celery import shared_task

from project.redis import RedisUnavailable
from usercenter import services


@shared_task(
    name="usercenter.tasks.home_rebuild",
    acks_late=True,
    ignore_result=True,
    autoretry_for=RedisUnavailable,
    retry_backoff=True,
    max_retries=5,
)
def home_rebuild_task():
    """The debounced rebuild scheduled by services.home_rebuild_schedule()."""
    services.home_rebuild(scheduled=True)


@shared_task(name="usercenter.tasks.revocations_sync", ignore_result=True)
def revocations_sync_task():
    """Beat: re-publish revoked tokens Redis may have missed, and prune expired ones."""
    from usercenter.auth import sync_revocations

    # Redis down: the web processes check tokens in the database meanwhile; the next tick retries.
    with contextlib.suppress(RedisUnavailable):
        sync_revocations(prune=True)
