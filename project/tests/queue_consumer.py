"""A consumer process for the queue tests: takes a batch, applies it, then hangs so the test
can SIGKILL it before it acknowledges.

    python -m project.tests.queue_consumer QUEUE_KEY (before-commit|after-commit)
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings_test")
django.setup()

from django.db import connection, transaction  # noqa: E402  after django.setup()

from project.queue import ReliableQueue  # noqa: E402  after django.setup()
from project.tests.test_queue import apply_events  # noqa: E402  after django.setup()


def main():
    key, mode = sys.argv[1], sys.argv[2]
    queue = ReliableQueue(key, batch_size=50)

    def handler(_key, events):
        with transaction.atomic():
            apply_events(events)
            if mode == "before-commit":
                print("TOOK", len(events), flush=True)
                time.sleep(3600)
        print("TOOK", len(events), flush=True)
        time.sleep(3600)  # committed, never acknowledged

    queue.consume(handler, consumer_id=f"doomed-{os.getpid()}")
    connection.close()


if __name__ == "__main__":
    main()
