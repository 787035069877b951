import datetime as dt

from signin import rules
from signin.models import SignIn


def past_signins(user, days: list[dt.date]) -> list[SignIn]:
    """Rows as the service would have written them (streaks counted over consecutive days)."""
    rows, prev, streak = [], None, 0
    for day in sorted(days):
        streak = streak + 1 if prev is not None and (day - prev).days == 1 else 1
        rows.append(SignIn(user=user, date=day, streak=streak, points_awarded=rules.points_for_streak(streak)))
        prev = day
    return SignIn.objects.bulk_create(rows)
