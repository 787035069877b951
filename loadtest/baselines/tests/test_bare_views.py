"""The load harness's yardsticks: the one-round-trip view
answers from Redis through the hot connection, with the hot paths' authentication, no SQL."""

import pytest

from project import counters
from project.redis import get_redis
from project.testing import CaptureAll

pytestmark = pytest.mark.django_db

BARE_REDIS = "/api/bench/bare-redis/"


def test_the_one_round_trip_view_sends_one_command_and_no_sql(client, user, token_for):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}
    assert client.post(BARE_REDIS, **headers).status_code == 200  # token list and script loaded
    before = counters.snapshot()[1]
    with CaptureAll() as q:
        res = client.post(BARE_REDIS, **headers)
    assert (res.status_code, res.json()) == (200, {"ok": True, "user_id": user.pk})
    assert q.count == 0
    assert counters.snapshot()[1] - before == 1


def test_the_one_round_trip_view_survives_a_script_flush(client, user, token_for):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}
    assert client.post(BARE_REDIS, **headers).status_code == 200
    get_redis().script_flush()
    res = client.post(BARE_REDIS, **headers)
    assert (res.status_code, res.json()["user_id"]) == (200, user.pk)


def test_the_one_round_trip_view_wants_a_signed_in_user(client):
    res = client.post(BARE_REDIS)
    assert res.status_code == 401
    assert res.json()["detail"]
