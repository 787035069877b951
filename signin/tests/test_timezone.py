import datetime as dt

import pytest
import time_machine
from django.test import override_settings

from signin.models import SignIn

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_at(client, when: dt.datetime) -> dict:
    with time_machine.travel(when, tick=False):
        return client.post("/api/signin/").json()


def test_the_day_turns_at_midnight_in_the_site_time_zone_not_utc(auth_client):
    # 15:59 UTC is 23:59 in Shanghai: still the 31st; two minutes later it is April 1st there
    # while UTC still says March 31st.
    before = _sign_at(auth_client, dt.datetime(2026, 3, 31, 15, 59, tzinfo=dt.UTC))
    after = _sign_at(auth_client, dt.datetime(2026, 3, 31, 16, 1, tzinfo=dt.UTC))
    assert (before["date"], before["already"]) == ("2026-03-31", False)
    assert (after["date"], after["already"]) == ("2026-04-01", False)
    # the streak crosses the month boundary (and the bitmap key changes with the month)
    assert (after["streak"], after["points_awarded"]) == (2, 15)
    assert list(SignIn.objects.filter(user=auth_client.user).order_by("date").values_list("date", flat=True)) == [
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 1),
    ]
    calendar = auth_client.get("/api/signin/calendar/?month=2026-03")
    assert calendar.json()["days"] == [31]


@override_settings(TIME_ZONE="UTC")
def test_with_a_utc_site_the_same_instant_is_still_the_same_day(auth_client):
    before = _sign_at(auth_client, dt.datetime(2026, 3, 31, 15, 59, tzinfo=dt.UTC))
    after = _sign_at(auth_client, dt.datetime(2026, 3, 31, 16, 1, tzinfo=dt.UTC))
    assert before["date"] == after["date"] == "2026-03-31"
    assert after["already"] is True


def test_streak_runs_across_a_year_end(auth_client):
    dates = [dt.datetime(2026, 12, 30, 4, tzinfo=dt.UTC) + dt.timedelta(days=n) for n in range(4)]
    answers = [_sign_at(auth_client, d) for d in dates]
    assert [a["date"] for a in answers] == ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]
    assert [a["streak"] for a in answers] == [1, 2, 3, 4]
    with time_machine.travel(dates[-1], tick=False):
        january = auth_client.get("/api/signin/calendar/?month=2027-01").json()
        december = auth_client.get("/api/signin/calendar/?month=2026-12").json()
    assert (january["days"], january["streak"], january["signed_today"]) == ([1, 2], 4, True)
    assert december["days"] == [30, 31]


def test_the_streak_shown_is_zero_once_a_day_was_missed(auth_client):
    _sign_at(auth_client, dt.datetime(2026, 6, 10, 4, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2026, 6, 11, 4, tzinfo=dt.UTC), tick=False):
        assert auth_client.get("/api/signin/calendar/").json()["streak"] == 1  # yesterday: still alive
    with time_machine.travel(dt.datetime(2026, 6, 12, 4, tzinfo=dt.UTC), tick=False):
        assert auth_client.get("/api/signin/calendar/").json()["streak"] == 0
