import datetime as dt

import pytest
import time_machine

from project.redis import get_redis
from project.testing import CaptureAll
from signin import rules
from signin.models import SignIn
from usercenter.models import LedgerEntry, Wallet
from usercenter.services import user_hash_key

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_signin_of_the_day_pays_the_day_one_reward(auth_client):
    res = auth_client.post("/api/signin/")
    assert res.status_code == 200
    body = res.json()
    today = rules.today()
    assert body == {
        "already": False,
        "date": today.isoformat(),
        "streak": 1,
        "points_awarded": 10,
        "total_points": 10,
    }
    user = auth_client.user
    row = SignIn.objects.get(user=user)
    assert (row.date, row.streak, row.points_awarded, row.cache_synced) == (today, 1, 10, True)
    entry = LedgerEntry.objects.get(user=user)
    assert (entry.kind, entry.reference, entry.points) == ("signin_reward", f"signin:{user.pk}:{today}", 10)
    assert Wallet.objects.get(user=user).points == 10
    # after commit: today's bit and the state are in Redis
    r = get_redis()
    assert r.getbit(rules.bitmap_key(user.pk, today.year, today.month), today.day - 1) == 1
    assert r.hgetall(rules.state_key(user.pk)) == {b"last": today.isoformat().encode(), b"streak": b"1", b"total": b"1"}


def test_second_signin_is_answered_from_redis_with_zero_sql(auth_client):
    auth_client.post("/api/signin/")
    with CaptureAll() as q:
        res = auth_client.post("/api/signin/")
    assert res.status_code == 200
    assert res.json() == {"already": True, "date": rules.today().isoformat(), "streak": 1, "points_awarded": 0}
    assert q.count == 0, [x["sql"] for x in q.queries]
    assert LedgerEntry.objects.filter(user=auth_client.user).count() == 1


def test_bearer_token_clients_sign_in_too(client, user, token_for):
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    assert client.post("/api/signin/", headers=headers).json()["already"] is False
    with CaptureAll() as q:
        assert client.post("/api/signin/", headers=headers).json()["already"] is True
    assert q.count == 0


def test_points_rise_with_the_streak_and_stop_rising_on_day_seven(auth_client):
    start = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    awarded = []
    for n in range(9):
        with time_machine.travel(start + dt.timedelta(days=n), tick=False):
            awarded.append(auth_client.post("/api/signin/").json()["points_awarded"])
    assert awarded == [10, 15, 20, 25, 30, 35, 40, 40, 40]
    assert Wallet.objects.get(user=auth_client.user).points == sum(awarded)


def test_a_missed_day_breaks_the_streak(auth_client):
    with time_machine.travel(dt.datetime(2026, 5, 1, 4, 0, tzinfo=dt.UTC), tick=False):
        auth_client.post("/api/signin/")
    with time_machine.travel(dt.datetime(2026, 5, 2, 4, 0, tzinfo=dt.UTC), tick=False):
        assert auth_client.post("/api/signin/").json()["streak"] == 2
    with time_machine.travel(dt.datetime(2026, 5, 4, 4, 0, tzinfo=dt.UTC), tick=False):
        body = auth_client.post("/api/signin/").json()
    assert (body["streak"], body["points_awarded"]) == (1, 10)


def test_signin_refreshes_the_cached_user_hash(auth_client):
    user = auth_client.user
    get_redis().hset(user_hash_key(user.pk), mapping={"username": user.username})
    auth_client.post("/api/signin/")
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert cached[b"streak"] == b"1"
    assert cached[b"signed_today"] == rules.today().isoformat().encode()
    assert cached[b"points"] == b"10"


def test_a_lost_bit_is_repaired_by_the_next_signin_without_a_second_reward(auth_client):
    user = auth_client.user
    auth_client.post("/api/signin/")
    get_redis().flushdb()
    res = auth_client.post("/api/signin/")
    assert res.json()["already"] is True
    assert res.json()["streak"] == 1
    today = rules.today()
    assert get_redis().getbit(rules.bitmap_key(user.pk, today.year, today.month), today.day - 1) == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
    with CaptureAll() as q:
        assert auth_client.post("/api/signin/").json()["already"] is True
    assert q.count == 0


def test_anonymous_signin_is_401_json(client):
    res = client.post("/api/signin/")
    assert res.status_code == 401
    assert res.json()["detail"] == "Authentication credentials were not provided."


def test_get_on_the_signin_endpoint_is_405_json(auth_client):
    res = auth_client.get("/api/signin/")
    assert res.status_code == 405
    assert res["Allow"] == "POST"
    assert "use POST" in res.json()["detail"]
