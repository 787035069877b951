import datetime as dt

import pytest
import time_machine

from project.redis import get_redis
from project.testing import CaptureAll
from signin import rules, selectors, services
from signin.tests.factories import past_signins

pytestmark = pytest.mark.django_db(transaction=True)


def test_summary_of_a_user_who_never_signed_in(user):
    assert selectors.signin_summary(user_id=user.pk) == {"streak": 0, "signed_today": False, "total_days": 0}


def test_summary_after_signing_in_is_served_from_redis(user):
    past_signins(user, [rules.today() - dt.timedelta(days=n) for n in (1, 2, 5)])
    services.signin_perform(user_id=user.pk)
    with CaptureAll() as q:
        summary = selectors.signin_summary(user_id=user.pk)
    assert q.count == 0
    assert summary == {"streak": 3, "signed_today": True, "total_days": 4}


def test_summary_is_filled_from_the_db_after_a_flush(user):
    past_signins(user, [rules.today() - dt.timedelta(days=n) for n in (1, 2)])
    get_redis().flushdb()
    assert selectors.signin_summary(user_id=user.pk) == {"streak": 2, "signed_today": False, "total_days": 2}
    with CaptureAll() as q:
        selectors.signin_summary(user_id=user.pk)
    assert q.count == 0


def test_summary_the_next_day_keeps_the_streak_but_not_signed_today(user):
    with time_machine.travel(dt.datetime(2026, 7, 1, 4, tzinfo=dt.UTC), tick=False):
        services.signin_perform(user_id=user.pk)
    with time_machine.travel(dt.datetime(2026, 7, 2, 4, tzinfo=dt.UTC), tick=False):
        assert selectors.signin_summary(user_id=user.pk) == {"streak": 1, "signed_today": False, "total_days": 1}


def test_stats_count_one_day(make_user):
    day = dt.date(2026, 4, 10)
    for i, streak_days in enumerate((1, 3, 8)):
        past_signins(make_user(f"s{i}"), [day - dt.timedelta(days=n) for n in range(streak_days)])
    stats = selectors.signin_stats(day=day)
    assert stats["signins"] == 3
    assert stats["points_awarded"] == 10 + 20 + 40
    assert stats["max_streak"] == 8
    assert stats["by_streak"] == {"1": 1, "3": 1, "7+": 1}
