"""Demo sign-ins: a streak of a few days ending yesterday for the demo users (idempotent)."""

from __future__ import annotations

import contextlib
import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction

from project.redis import RedisUnavailable
from signin import rules, services
from signin.models import SignIn
from usercenter import services as usercenter_services

# username -> days of streak ending yesterday
DEMO_STREAKS = {"demo": 4, "alice": 6, "bob": 2}


def seed(*, stdout) -> None:
    today = rules.today()
    users = dict(get_user_model().objects.filter(username__in=DEMO_STREAKS).values_list("username", "pk"))
    months: dict[tuple[int, int], list[int]] = {}
    created = 0
    for username, length in DEMO_STREAKS.items():
        uid = users.get(username)
        if uid is None:
            continue
        for n in range(1, length + 1):
            day = today - dt.timedelta(days=length - n + 1)
            points = rules.points_for_streak(n)
            with transaction.atomic(using="default"):
                _, new = SignIn.objects.get_or_create(
                    user_id=uid, date=day, defaults={"streak": n, "points_awarded": points}
                )
                if new:
                    created += 1
                    usercenter_services.wallet_credit(
                        user_id=uid,
                        kind="signin_reward",
                        reference=f"signin:{uid}:{day.isoformat()}",
                        points=points,
                        memo=f"daily sign-in, day {n} of the streak (demo)",
                    )
            months.setdefault((day.year, day.month), []).append(uid)
    # The calendars in Redis must show what was just written.
    with contextlib.suppress(RedisUnavailable):
        for (year, month), uids in months.items():
            services.signin_cache_rebuild(year=year, month=month, user_ids=sorted(set(uids)))
    stdout.write(f"  sign-ins: {created} created for {', '.join(DEMO_STREAKS)} (streaks ending yesterday)")
