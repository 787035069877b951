"""Test-only: a worker started with SURGE_TEST_DRAIN_PAUSE_SECONDS holds every drained batch
uncommitted that long, so a test can SIGKILL it in the middle of a batch. Its Celery imports this
(CELERY_IMPORTS in project/settings_test.py); production code knows nothing of it."""

import os
import time

from django.db import transaction

from project import queue

PAUSE_SECONDS = float(os.environ.get("SURGE_TEST_DRAIN_PAUSE_SECONDS") or 0)


def _paused(handler):
    def handle(queue_key, events):
        # One outer transaction: the handler's own becomes a savepoint, so all it wrote is still
        # uncommitted during the pause (its after-commit work waits for the outer commit).
        with transaction.atomic(using="default"):
            handler(queue_key, events)
            time.sleep(PAUSE_SECONDS)

    return handle


if PAUSE_SECONDS:
    for family in list(queue.families().values()):
        queue.register_queue_family(
            family.name,
            keys=family.list_keys,
            handler=_paused(family.handler),
            prefix=family.prefix,
            time_field=family.time_field,
        )
