"""Reads of the sign-in: Redis first (bitmap and state), the database behind it.

With Redis down every read answers from the database (slower, still correct)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from django.db.models import Avg, Count, Max, Sum, Window

from project import db_router
from project.redis import RedisUnavailable, get_redis, load_script
from signin import rules
from signin.models import SignIn

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- state (last day, streak, total)


def _state_from_db(user_id: int) -> tuple[dt.date | None, int, int]:
    """(last sign-in date, streak on that day, total days) in one query."""
    row = (
        SignIn.objects.filter(user_id=user_id)
        .annotate(total=Window(expression=Count("id")))
        .order_by("-date")
        .values_list("date", "streak", "total")
        .first()
    )
    return (row[0], row[1], row[2]) if row else (None, 0, 0)


def _state_parse(values: list) -> tuple[dt.date | None, int, int] | None:
    last, streak, total = values
    if last is None:
        return None
    last = last.decode() if isinstance(last, bytes) else last
    return (dt.date.fromisoformat(last) if last else None, int(streak or 0), int(total or 0))


def _state_store(user_id: int, state: tuple[dt.date | None, int, int], seen_position: str) -> None:
    last, streak, total = state
    with contextlib.suppress(RedisUnavailable):
        load_script(rules.STATE_FILL_SCRIPT)(
            keys=[rules.state_key(user_id), db_router.position_key(user_id)],
            args=[last.isoformat() if last else "", streak, total, rules.STATE_TTL_SECONDS, seen_position],
        )


def signin_state(*, user_id: int) -> tuple[dt.date | None, int, int]:
    """(last sign-in date or None, streak on that day, total days), cache-first."""
    try:
        cached = _state_parse(get_redis().hmget(rules.state_key(user_id), "last", "streak", "total"))
    except RedisUnavailable:
        return _state_from_db(user_id)
    if cached is not None:
        return cached
    with db_router.reading_for(user_id) as seen_position:
        state = _state_from_db(user_id)
    _state_store(user_id, state, seen_position)
    return state


def signin_summary(*, user_id: int) -> dict:
    """For the user center: {"streak", "signed_today", "total_days"}. Zero SQL when cached."""
    last, streak, total = signin_state(user_id=user_id)
    today = rules.today()
    return {
        "streak": rules.current_streak(last, streak, today),
        "signed_today": last == today,
        "total_days": total,
    }


# ---------------------------------------------------------------- the month calendar


def _month_days_from_db(user_id: int, year: int, month: int) -> list[int]:
    first, last = rules.month_bounds(year, month)
    dates = SignIn.objects.filter(user_id=user_id, date__range=(first, last)).values_list("date", flat=True)
    return sorted(d.day for d in dates)


def _month_store(user_id: int, year: int, month: int, days: list[int]) -> None:
    with contextlib.suppress(RedisUnavailable):
        load_script(rules.MONTH_FILL_SCRIPT)(
            keys=[rules.bitmap_key(user_id, year, month)],
            args=[rules.BITMAP_TTL_SECONDS, rules.COMPLETE_BIT, *[d - 1 for d in days]],
        )


def signin_calendar(*, user_id: int, year: int, month: int) -> dict:
    """The days signed in one month plus the current streak: one Redis round trip on a hit.

    A missing or incomplete bitmap (after a flush, or only today's bit set by a sign-in) is
    filled from the database and marked complete, also when the month is empty."""
    today = rules.today()
    first, last_day = rules.month_bounds(year, month)
    future = first > today
    raw = state_values = None
    redis_ok = True
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.get(rules.bitmap_key(user_id, year, month))
        pipe.hmget(rules.state_key(user_id), "last", "streak", "total")
        raw, state_values = pipe.execute()
    except RedisUnavailable:
        redis_ok = False
        logger.warning("sign-in calendar of user %s from the database: Redis unavailable", user_id)

    if future:
        days: list[int] = []  # nobody signs in ahead of time: no read, nothing to cache
    else:
        complete, days = rules.bitmap_decode(raw)
        if not complete:
            with db_router.reading_for(user_id):  # the month fill ORs bits: no guard needed
                days = _month_days_from_db(user_id, year, month)
            if redis_ok:
                _month_store(user_id, year, month, days)

    state = _state_parse(state_values) if state_values else None
    if state is None:
        if redis_ok:
            with db_router.reading_for(user_id) as seen_position:
                state = _state_from_db(user_id)
            _state_store(user_id, state, seen_position)
        else:
            state = _state_from_db(user_id)
    last, streak, total = state
    return {
        "month": f"{year:04d}-{month:02d}",
        "today": today.isoformat(),
        "days_in_month": last_day.day,
        # Monday = 0, so the page can offset the first row of the grid.
        "first_weekday": first.weekday(),
        "days": days,
        "streak": rules.current_streak(last, streak, today),
        "signed_today": last == today,
        "total_days": total,
        "next_points": rules.points_for_streak(rules.current_streak(last, streak, today) + 1),
    }


# ---------------------------------------------------------------- ops


def signin_stats(*, day: dt.date) -> dict:
    """Counts for one day (from the database: the source of truth)."""
    rows = SignIn.objects.filter(date=day)
    agg = rows.aggregate(count=Count("id"), points=Sum("points_awarded"), avg=Avg("streak"), max=Max("streak"))
    by_streak = dict(rows.values("streak").annotate(n=Count("id")).order_by("streak").values_list("streak", "n"))
    buckets: dict[str, int] = {}
    for streak, n in by_streak.items():
        label = str(streak) if streak < 7 else "7+"
        buckets[label] = buckets.get(label, 0) + n
    return {
        "date": day.isoformat(),
        "signins": agg["count"] or 0,
        "points_awarded": agg["points"] or 0,
        "avg_streak": round(float(agg["avg"] or 0), 2),
        "max_streak": agg["max"] or 0,
        "by_streak": buckets,
        "unsynced": SignIn.objects.filter(cache_synced=False).count(),
    }


def user_center_fields(*, user_id: int) -> dict:
    """The sign-in's field group of the user center's hash. `signed_today` holds the ISO date of
    the latest sign-in (not a flag), so "signed today" and the live streak stay right after
    midnight without a refill."""
    summary = signin_summary(user_id=user_id)
    streak = int(summary.get("streak") or 0)
    today = rules.today()
    if summary.get("signed_today"):
        last = today.isoformat()
    elif streak:
        last = (today - dt.timedelta(days=1)).isoformat()
    else:
        last = ""
    return {"streak": streak, "signed_today": last}
