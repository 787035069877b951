"""Sign-in JSON endpoints: plain Django views (hot path, no DRF machinery)."""

from __future__ import annotations

from project.api import endpoint, error, json_response
from signin import rules, selectors, services


@endpoint("POST")
def signin(request):
    """POST /api/signin/: 200 {already, date, streak, points_awarded[, total_points]}."""
    return json_response(services.signin_perform(user_id=request.user.pk))


@endpoint("GET")
def calendar(request):
    """GET /api/signin/calendar/?month=YYYY-MM (default: this month in the site's time zone)."""
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
