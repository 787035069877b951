import pytest

from project.celery import app
from project.testing import CaptureAll
from signin.models import SignIn

pytestmark = pytest.mark.django_db(transaction=True)


def test_naive_baseline_goes_to_the_database_every_time_and_still_pays_once(auth_client):
    assert auth_client.post("/api/bench/signin/naive/").json()["already"] is False
    with CaptureAll() as q:
        res = auth_client.post("/api/bench/signin/naive/")
    assert res.json()["already"] is True
    assert q.count >= 3  # yesterday's row, the INSERT that does nothing, today's row (+ count)
    assert SignIn.objects.filter(user=auth_client.user).count() == 1


def test_anonymous_naive_baseline_is_401(client):
    assert client.post("/api/bench/signin/naive/").status_code == 401


def test_the_cache_repair_runs_on_beat():
    entry = app.conf.beat_schedule["signin-repair-cache"]
    assert entry["task"] == "signin.tasks.repair_cache"
