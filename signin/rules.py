"""Sign-in rules and the Redis layout, shared by services and selectors.

Keys (all of one user share the hash tag `{<uid>}`, so every script stays in one slot):
- `signin:{<uid>}:YYYYMM`: a bitmap, bit (day - 1) set when the user signed in that day; bit 31
  (no month has a day 32) marks the month as complete (filled from the database), so a missing
  key and an empty month are told apart.
- `signin:{<uid>}:state`: hash {last: ISO date of the latest sign-in ('' = never), streak: the
  streak on that day, total: days signed in ever}. The "already signed in" answer comes from
  here without SQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.utils import timezone

# Points rule: 10 on the first day, 5 more for each consecutive day, capped from day 7 on
# (day 1: 10, day 2: 15, ... day 7 and later: 40).
BASE_POINTS = settings.SIGNIN_BASE_POINTS
STREAK_STEP_POINTS = settings.SIGNIN_STREAK_STEP_POINTS
STREAK_STEP_CAP = settings.SIGNIN_STREAK_STEP_CAP

# A month bitmap lives long enough to show this month and the previous one without SQL.
BITMAP_TTL_SECONDS = settings.SIGNIN_BITMAP_TTL_SECONDS
# The state only matters while a streak is alive (signed today or yesterday); a week covers it.
STATE_TTL_SECONDS = settings.SIGNIN_STATE_TTL_SECONDS
COMPLETE_BIT = 31
BITMAP_BYTES = 4  # 32 bits: days 1..31 and the complete marker

LUA_DIR = Path(__file__).parent / "lua"
MARK_SCRIPT = LUA_DIR / "mark.lua"
MONTH_FILL_SCRIPT = LUA_DIR / "month_fill.lua"
STATE_FILL_SCRIPT = LUA_DIR / "state_fill.lua"


def points_for_streak(streak: int) -> int:
    return BASE_POINTS + STREAK_STEP_POINTS * min(max(streak, 1) - 1, STREAK_STEP_CAP)


def today() -> dt.date:
    """The site's day: settings.TIME_ZONE (Asia/Shanghai by default), never UTC by accident."""
    return timezone.localdate()


def bitmap_key(user_id: int, year: int, month: int) -> str:
    return f"signin:{{{user_id}}}:{year:04d}{month:02d}"


def state_key(user_id: int) -> str:
    return f"signin:{{{user_id}}}:state"


def day_offset(day: dt.date) -> int:
    return day.day - 1


def bitmap_bytes(days: list[int], *, complete: bool = True) -> bytes:
    """The bitmap value for these days of the month (Redis bit 0 is the high bit of byte 0)."""
    raw = bytearray(BITMAP_BYTES)
    for offset in [d - 1 for d in days] + ([COMPLETE_BIT] if complete else []):
        raw[offset // 8] |= 0x80 >> (offset % 8)
    return bytes(raw)


def bitmap_decode(raw: bytes | None) -> tuple[bool, list[int]]:
    """(complete?, signed days) from a bitmap value (None when the key is missing)."""
    if not raw:
        return False, []
    raw = raw.ljust(BITMAP_BYTES, b"\0")

    def bit(offset: int) -> bool:
        return bool(raw[offset // 8] & (0x80 >> (offset % 8)))

    return bit(COMPLETE_BIT), [o + 1 for o in range(31) if bit(o)]


def current_streak(last: dt.date | None, streak: int, on: dt.date) -> int:
    """The streak as the user sees it on `on`: still alive if the last sign-in was today or
    yesterday, otherwise broken (0)."""
    if last is not None and (on - last).days in (0, 1):
        return streak
    return 0


def parse_month(value: str | None) -> tuple[int, int]:
    """'YYYY-MM' -> (year, month); ValueError with a message a user can act on."""
    message = "month must look like YYYY-MM, e.g. 2026-11"
    if not value or len(value) != 7 or value[4] != "-":
        raise ValueError(message)
    try:
        year, month = int(value[:4]), int(value[5:])
    except ValueError:
        raise ValueError(message) from None
    if not 1 <= month <= 12:
        raise ValueError("month must be between 01 and 12")
    if year < 2000 or year > 2999:
        raise ValueError("year must be between 2000 and 2999")
    return year, month


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)
