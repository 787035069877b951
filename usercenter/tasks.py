"""Thin Celery tasks of the user center."""

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
