"""The Celery app. Tasks are thin: they take ids or plain JSON and call a service."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready

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
def _task_reads_primary(task=None, **kwargs):
    # Workers write and then read what they wrote: their reads go to the primary.
    from project import beat, db_router

    db_router.begin_request()
    db_router.pin_to_primary()
    sent_by = task.request.get(beat.SENT_BY_HEADER) if task is not None else None
    if sent_by:
        beat.record_run(task.name, sent_by)


@task_postrun.connect
def _task_done(**kwargs):
    from project import db_router

    db_router.end_request()


@worker_ready.connect
def _serve_worker_metrics(**kwargs):
    """Serve the pool processes' metrics (queue events are counted there; aggregated through
    PROMETHEUS_MULTIPROC_DIR) on WORKER_METRICS_PORT for Prometheus."""
    from django.conf import settings

    if not settings.WORKER_METRICS_PORT or not settings.PROMETHEUS_MULTIPROC_DIR:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(settings.WORKER_METRICS_PORT, addr=settings.WORKER_METRICS_ADDR, registry=registry)
