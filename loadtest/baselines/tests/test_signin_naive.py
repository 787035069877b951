"""The sign-in baseline: the database transaction every time, still one row and one reward."""

import pytest

from project.testing import CaptureAll
from signin.models import SignIn
from signin.tests.parallel import fifty_parallel_clicks_pay_once

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


# The naive endpoint skips the Redis check: all fifty reach the INSERT and race on the unique row.
def test_fifty_parallel_naive_signins_by_one_user_give_one_row_one_entry_one_reward(user):
    fifty_parallel_clicks_pay_once(user, "/api/bench/signin/naive/")
