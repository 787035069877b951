import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from project.redis import get_redis
from signin import rules
from signin.tests.factories import past_signins

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = io.StringIO()
    call_command("signin", *args, stdout=out)
    return out.getvalue()


def test_rebuild_cache_rewrites_the_month_bitmaps_from_the_db(make_user):
    a, b = make_user("a"), make_user("b")
    past_signins(a, [dt.date(2026, 2, 3), dt.date(2026, 2, 4)])
    past_signins(b, [dt.date(2026, 2, 28)])
    get_redis().set(rules.bitmap_key(a.pk, 2026, 2), rules.bitmap_bytes([1, 2, 3, 4, 5]))  # drifted
    out = run("rebuild-cache", "--month", "2026-02")
    assert "2/2 users (100%)" in out
    assert "rebuilt 2 user calendar(s) for 2026-02" in out
    assert rules.bitmap_decode(get_redis().get(rules.bitmap_key(a.pk, 2026, 2))) == (True, [3, 4])
    assert rules.bitmap_decode(get_redis().get(rules.bitmap_key(b.pk, 2026, 2))) == (True, [28])


def test_rebuild_cache_for_one_user_without_signins_marks_the_month_empty(user):
    run("rebuild-cache", "--user", str(user.pk), "--month", "2026-02")
    assert rules.bitmap_decode(get_redis().get(rules.bitmap_key(user.pk, 2026, 2))) == (True, [])


def test_rebuild_cache_refuses_bad_input(user):
    with pytest.raises(CommandError, match="month must be between 01 and 12"):
        run("rebuild-cache", "--month", "2026-00")
    with pytest.raises(CommandError, match="no user with id 999999"):
        run("rebuild-cache", "--user", "999999")


def test_stats_prints_the_days_counts(make_user):
    past_signins(make_user("x"), [dt.date(2026, 4, 9), dt.date(2026, 4, 10)])
    out = run("stats", "--date", "2026-04-10")
    assert "sign-ins on 2026-04-10: 1" in out
    assert "points awarded: 15" in out
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("stats", "--date", "10/04/2026")
