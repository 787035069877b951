"""The process fixtures other apps' storm tests rely on: a real gunicorn and a real worker."""

import json
import time
import urllib.request

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_gunicorn_serves_the_test_database(live_gunicorn, user, token_for):
    token = token_for(user)
    req = urllib.request.Request(live_gunicorn.url + "/api/auth/whoami/", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as res:
        assert json.loads(res.read()) == {"id": user.pk, "username": "alice"}


@pytest.mark.worker
def test_a_task_sent_through_the_broker_runs_in_the_real_worker(celery_worker):
    from project import queue
    from project.tasks import drain_queues

    assert queue.seconds_since_drain() is None
    drain_queues.delay()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if queue.seconds_since_drain() is not None:
            return
        time.sleep(0.1)
    raise AssertionError(celery_worker.log.read_text()[-2000:])


def test_metrics_add_up_over_several_gunicorn_workers(live_gunicorn):
    import re
    from concurrent.futures import ThreadPoolExecutor

    def hit(_):
        with urllib.request.urlopen(live_gunicorn.url + "/api/home/", timeout=5) as res:
            return res.status

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(hit, range(200))) == {200}
    with urllib.request.urlopen(live_gunicorn.url + "/metrics", timeout=5) as res:
        text = res.read().decode()
    match = re.search(r'surge_http_requests_total\{status="200",view="api-home"\} ([0-9.e+]+)', text)
    assert match, text[:2000]
    assert float(match.group(1)) == 200  # both workers' counts, not one worker's


def test_metrics_show_queue_depth_and_replica_view(live_gunicorn):
    with urllib.request.urlopen(live_gunicorn.url + "/metrics", timeout=5) as res:
        text = res.read().decode()
    assert "surge_replica_ok 1.0" in text
    assert "surge_replica_lag_seconds" in text
    assert "# TYPE surge_queue_depth gauge" in text


@pytest.mark.worker
def test_the_worker_serves_its_queue_metrics(celery_worker_factory, tmp_path):
    from project.tasks import drain_queues
    from project.testing import free_port

    port = free_port()
    metrics_dir = tmp_path / "worker-metrics"
    metrics_dir.mkdir()
    celery_worker_factory("wm", WORKER_METRICS_PORT=port, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    drain_queues.delay()
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as res:
                text = res.read().decode()
            if "surge_queue_drain_rounds_total 1.0" in text:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(text[:1000] or "worker metrics endpoint never answered")
