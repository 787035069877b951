"""The process fixtures other apps' storm tests rely on: a real gunicorn and a real worker."""

import json
import urllib.request

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_gunicorn_serves_the_test_database(live_gunicorn, user, token_for):
    token = token_for(user)
    req = urllib.request.Request(live_gunicorn.url + "/api/auth/whoami/", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as res:
        assert json.loads(res.read()) == {"id": user.pk, "username": "alice"}


@pytest.mark.worker
def test_a_real_worker_drains_a_registered_queue(celery_worker):
    from project.tasks import drain_queues

    # The worker process has no family registered for this key, so it drains nothing; what
    # this proves is that a task sent through the broker reaches the worker and runs.
    drain_queues.delay()
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (
            "project.tasks.drain_queues" in celery_worker.log.read_text()
            and "succeeded" in celery_worker.log.read_text()
        ):
            return
        time.sleep(0.2)
    raise AssertionError(celery_worker.log.read_text()[-2000:])
