"""Thin tasks: the debounced republish of changed outputs, and a full publish (admin button)."""

from celery import shared_task

from staticgen import services
from staticgen.models import PublishRun


@shared_task(
    name="staticgen.tasks.publish_pending",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(services.PublishBusy,),
    retry_backoff=2,
    max_retries=10,
)
def publish_pending():
    result = services.publish_pending()
    return None if result is None else result.summary()


@shared_task(name="staticgen.tasks.publish_all", acks_late=True, ignore_result=True)
def publish_all(trigger: str = PublishRun.Trigger.ADMIN):
    return services.publish(trigger=trigger, lock_wait_seconds=60).summary()
