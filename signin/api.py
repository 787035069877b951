"""Sign-in JSON endpoints: plain Django views (hot path, no DRF machinery)."""

from __future__ import annotations

import functools

from project.api import error, json_response
from signin import rules, selectors, services

NOT_AUTHENTICATED = "Authentication credentials were not provided."


def _only(method: str):
    """Like require_http_methods, but the 405 is JSON like every other API error."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != method:
                response = error(405, f"Method {request.method} not allowed; use {method}.")
                response["Allow"] = method
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


@_only("POST")
def signin(request):
    """POST /api/signin/: 200 {already, date, streak, points_awarded[, total_points]}."""
    if not request.user.is_authenticated:
        return error(401, NOT_AUTHENTICATED)
    return json_response(services.signin_perform(user_id=request.user.pk))


@_only("POST")
def signin_naive(request):
    """POST /api/bench/signin/naive/: the same sign-in, but to the database every time."""
    if not request.user.is_authenticated:
        return error(401, NOT_AUTHENTICATED)
    return json_response(services.signin_perform(user_id=request.user.pk, check_cache=False))


@_only("GET")
def calendar(request):
    """GET /api/signin/calendar/?month=YYYY-MM (default: this month in the site's time zone)."""
    if not request.user.is_authenticated:
        return error(401, NOT_AUTHENTICATED)
    raw = request.GET.get("month")
    if raw is None:
        today = rules.today()
        year, month = today.year, today.month
    else:
        try:
            year, month = rules.parse_month(raw)
        except ValueError as exc:
            return error(400, str(exc), field="month")
    return json_response(selectors.signin_calendar(user_id=request.user.pk, year=year, month=month))
