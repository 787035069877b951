"""The Celery app. Tasks are thin: they take ids or plain JSON and call a service."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("surge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat entries of the kernel; apps add theirs in their AppConfig.ready() via add_beat().
app.conf.beat_schedule = {
    "drain-queues": {"task": "project.tasks.drain_queues", "schedule": 1.0, "options": {"expires": 5}},
}


def add_beat(name: str, task: str, seconds: float, **kwargs) -> None:
    app.conf.beat_schedule[name] = {"task": task, "schedule": seconds, "options": {"expires": seconds * 2}, **kwargs}


@task_prerun.connect
def _task_reads_primary(**kwargs):
    # Workers write and then read what they wrote: their reads go to the primary.
    from project import db_router

    db_router.begin_request()
    db_router.pin_to_primary()


@task_postrun.connect
def _task_done(**kwargs):
    from project import db_router

    db_router.end_request()
