"""Thin Celery tasks of the sign-in."""

from celery import shared_task

from signin import services


@shared_task(name="signin.tasks.repair_cache", ignore_result=True)
def repair_cache() -> int:
    """Hand sign-ins written while Redis was down back to Redis (beat, every few seconds)."""
    return services.signin_cache_repair()
