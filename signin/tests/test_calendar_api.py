import datetime as dt

import pytest
import time_machine

from project.redis import get_redis
from project.testing import CaptureAll
from signin import rules
from signin.tests.factories import past_signins

pytestmark = pytest.mark.django_db(transaction=True)

# 2026-03-20 10:00 in Asia/Shanghai
NOW = dt.datetime(2026, 3, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def march(auth_client):
    past_signins(auth_client.user, [dt.date(2026, 3, d) for d in (1, 2, 17, 18, 19)])
    with time_machine.travel(NOW, tick=False):
        yield auth_client


def test_calendar_shows_the_signed_days_and_the_live_streak(march):
    res = march.get("/api/signin/calendar/?month=2026-03")
    assert res.status_code == 200
    body = res.json()
    assert body["days"] == [1, 2, 17, 18, 19]
    assert (body["streak"], body["signed_today"], body["total_days"]) == (3, False, 5)
    assert (body["month"], body["today"], body["days_in_month"], body["first_weekday"]) == (
        "2026-03",
        "2026-03-20",
        31,
        6,
    )
    assert body["next_points"] == 25


def test_second_calendar_read_is_zero_sql(march):
    first = march.get("/api/signin/calendar/?month=2026-03").json()
    with CaptureAll() as q:
        second = march.get("/api/signin/calendar/?month=2026-03").json()
    assert q.count == 0
    assert first == second


def test_after_flushdb_the_calendar_is_rebuilt_from_the_db_and_matches(march):
    before = march.get("/api/signin/calendar/?month=2026-03").json()
    march.post("/api/signin/")  # today (the 20th): bit set after commit
    after_signin = march.get("/api/signin/calendar/?month=2026-03").json()
    assert after_signin["days"] == [*before["days"], 20]
    assert after_signin["streak"] == 4
    get_redis().flushdb()
    with CaptureAll() as q:
        rebuilt = march.get("/api/signin/calendar/?month=2026-03").json()
    assert q.count > 0  # it did go to the database
    assert rebuilt == after_signin
    key = rules.bitmap_key(march.user.pk, 2026, 3)
    assert rules.bitmap_decode(get_redis().get(key)) == (True, [1, 2, 17, 18, 19, 20])


def test_a_signin_before_the_first_calendar_read_does_not_pass_for_a_full_month(march):
    march.post("/api/signin/")  # only today's bit exists: the month is not complete
    assert march.get("/api/signin/calendar/?month=2026-03").json()["days"] == [1, 2, 17, 18, 19, 20]


def test_an_empty_month_is_remembered_so_it_costs_one_db_read(march):
    assert march.get("/api/signin/calendar/?month=2026-02").json()["days"] == []
    with CaptureAll() as q:
        assert march.get("/api/signin/calendar/?month=2026-02").json()["days"] == []
    assert q.count == 0


def test_a_user_who_never_signed_in_reads_from_redis_after_the_first_time(auth_client):
    auth_client.get("/api/signin/calendar/")
    with CaptureAll() as q:
        body = auth_client.get("/api/signin/calendar/").json()
    assert q.count == 0
    assert (body["days"], body["streak"], body["total_days"]) == ([], 0, 0)


def test_future_months_are_empty_and_never_cached(march):
    assert march.get("/api/signin/calendar/?month=2026-05").json()["days"] == []
    assert not get_redis().exists(rules.bitmap_key(march.user.pk, 2026, 5))


def test_without_a_month_the_calendar_shows_this_month(march):
    assert march.get("/api/signin/calendar/").json()["month"] == "2026-03"


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-13", "month must be between 01 and 12"),
        ("2026-3", "month must look like YYYY-MM, e.g. 2026-11"),
        ("march", "month must look like YYYY-MM, e.g. 2026-11"),
        ("", "month must look like YYYY-MM, e.g. 2026-11"),
        ("1066-10", "year must be between 2000 and 2999"),
    ],
)
def test_a_bad_month_is_400_with_a_clear_message(auth_client, month, message):
    res = auth_client.get("/api/signin/calendar/", {"month": month})
    assert res.status_code == 400
    assert res.json() == {"detail": message, "field": "month"}


def test_anonymous_calendar_is_401(client):
    assert client.get("/api/signin/calendar/").status_code == 401
