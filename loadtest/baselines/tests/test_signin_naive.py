"""The sign-in baseline: the database transaction every time, still one row and one reward."""

import threading

import pytest
from django.db import connections
from django.test import Client

from project.testing import CaptureAll
from signin.models import SignIn
from usercenter.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL_CLICKS = 50


def test_naive_baseline_goes_to_the_database_every_time_and_still_pays_once(auth_client):
    assert auth_client.post("/api/bench/signin/naive/").json()["already"] is False
    with CaptureAll() as q:
        res = auth_client.post("/api/bench/signin/naive/")
    assert res.json()["already"] is True
    assert q.count >= 3  # yesterday's row, the INSERT that does nothing, today's row (+ count)
    assert SignIn.objects.filter(user=auth_client.user).count() == 1


def test_anonymous_naive_baseline_is_401(client):
    assert client.post("/api/bench/signin/naive/").status_code == 401


# The naive endpoint skips the Redis check: all fifty reach the INSERT and race on the unique row.
def test_fifty_parallel_naive_signins_by_one_user_give_one_row_one_entry_one_reward(user):
    url = "/api/bench/signin/naive/"
    clients = []
    for _ in range(PARALLEL_CLICKS):
        c = Client()
        c.force_login(user, backend="usercenter.auth.CachedUserBackend")
        clients.append(c)
    barrier = threading.Barrier(PARALLEL_CLICKS)
    answers, errors = [], []

    def click(c):
        try:
            barrier.wait(timeout=30)
            res = c.post(url)
            answers.append((res.status_code, res.json()))
        except Exception as exc:  # noqa: BLE001  collected, and asserted empty below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert [s for s, _ in answers] == [200] * PARALLEL_CLICKS
    fresh = [a for _, a in answers if not a["already"]]
    already = [a for _, a in answers if a["already"]]
    assert len(fresh) == 1 and len(already) == PARALLEL_CLICKS - 1
    assert fresh[0]["points_awarded"] == 10
    assert all(a["points_awarded"] == 0 and a["streak"] == 1 for a in already)
    assert SignIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user, kind="signin_reward").count() == 1
    assert Wallet.objects.get(user=user).points == 10
