"""The sign-in page: a month calendar, the streak, the points and a Sign in button."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from signin import rules, selectors
from usercenter import selectors as usercenter_selectors


@login_required
def signin_page(request):
    today = rules.today()
    try:
        year, month = (
            rules.parse_month(request.GET.get("month")) if request.GET.get("month") else (today.year, today.month)
        )
    except ValueError:
        year, month = today.year, today.month
    calendar = selectors.signin_calendar(user_id=request.user.pk, year=year, month=month)
    wallet = usercenter_selectors.wallet_get(user_id=request.user.pk)
    return render(
        request,
        "signin/calendar.html",
        {
            "calendar": calendar,
            "points": wallet["points"],
            "rule": {
                "base": rules.BASE_POINTS,
                "step": rules.STREAK_STEP_POINTS,
                "cap": rules.STREAK_STEP_CAP + 1,
                "max": rules.points_for_streak(rules.STREAK_STEP_CAP + 1),
            },
        },
    )
