"""Writes of the sign-in. The hot path: Redis answers "already signed in" without SQL; the first
sign-in of the day is one transaction on the primary; Redis is told after commit."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from django.db import connections, transaction
from django.utils import timezone

from project import db_router
from project.redis import RedisUnavailable, get_redis, load_script
from signin import rules
from signin.models import SignIn
from usercenter import services as usercenter_services

logger = logging.getLogger(__name__)

# Rows the repair task hands back to Redis per run (one pipeline, one UPDATE).
REPAIR_BATCH_SIZE = 1000
# Users per Redis pipeline in a rebuild: big enough to amortise round trips, small enough
# to keep each pipeline's reply in a few hundred kilobytes.
REBUILD_PIPELINE_USERS = 500

_SELECT_STREAK = "SELECT streak FROM signin_signin WHERE user_id = %s AND date = %s"
# ON CONFLICT DO NOTHING: a parallel request that already inserted today's row makes this a
# no-op (PostgreSQL waits for that transaction, then skips), so the loser never pays a reward.
_INSERT = """
INSERT INTO signin_signin (user_id, date, streak, points_awarded, created_at, cache_synced)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, date) DO NOTHING
RETURNING id
"""
_COUNT = "SELECT count(*) FROM signin_signin WHERE user_id = %s"


def _answer(*, already: bool, day: dt.date, streak: int, points: int, **extra) -> dict:
    return {"already": already, "date": day.isoformat(), "streak": streak, "points_awarded": points, **extra}


def _cached_answer(user_id: int, day: dt.date) -> dict | None:
    """The "already signed in" answer from Redis alone (one round trip), or None."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.getbit(rules.bitmap_key(user_id, day.year, day.month), rules.day_offset(day))
    pipe.hmget(rules.state_key(user_id), "last", "streak")
    bit, (last, streak) = pipe.execute()
    # Both must agree: a bit without a fresh state (state expired or flushed) goes to the DB,
    # which answers and repairs the state.
    if bit and last is not None and last.decode() == day.isoformat():
        return _answer(already=True, day=day, streak=int(streak), points=0)
    return None


def signin_perform(*, user_id: int) -> dict:
    """Sign the user in for today (the site's day). Returns {already, date, streak,
    points_awarded} (+ total_points on a fresh sign-in). Safe under any parallelism: one row,
    one ledger entry per user per day."""
    day = rules.today()
    try:
        cached = _cached_answer(user_id, day)
    except RedisUnavailable:
        logger.warning("sign-in of user %s through the database alone: Redis unavailable", user_id)
        return signin_record(user_id=user_id, day=day, redis_ok=False)
    if cached is not None:
        return cached
    return signin_record(user_id=user_id, day=day)


def signin_record(*, user_id: int, day: dt.date, redis_ok: bool = True) -> dict:
    """The sign-in's database transaction (one row, one reward), then Redis after commit;
    `redis_ok=False` marks the row for the repair task."""
    with transaction.atomic(using="default"):
        cursor = connections["default"].cursor()
        # Yesterday's row is in the past: no concurrent writer can change it under us.
        cursor.execute(_SELECT_STREAK, [user_id, day - dt.timedelta(days=1)])
        row = cursor.fetchone()
        streak = row[0] + 1 if row else 1
        points = rules.points_for_streak(streak)
        cursor.execute(_INSERT, [user_id, day, streak, points, timezone.now(), redis_ok])
        inserted = cursor.fetchone()
        if inserted is None:
            # Another request won. READ COMMITTED: this statement sees its committed row.
            cursor.execute(_SELECT_STREAK, [user_id, day])
            streak = cursor.fetchone()[0]
            answer = _answer(already=True, day=day, streak=streak, points=0)
        else:
            applied = usercenter_services.wallet_credit_batch(
                entries=[
                    {
                        "user_id": user_id,
                        "kind": "signin_reward",
                        "reference": f"signin:{user_id}:{day.isoformat()}",
                        "points": points,
                        "memo": f"daily sign-in, day {streak} of the streak",
                    }
                ]
            )
            total_points = applied[0]["total_points"] if applied else None
            answer = _answer(already=False, day=day, streak=streak, points=points, total_points=total_points)
        cursor.execute(_COUNT, [user_id])
        total = cursor.fetchone()[0]
        # Only a row written as synced needs flagging if telling Redis fails after commit.
        row_id = inserted[0] if inserted and redis_ok else None
        transaction.on_commit(
            lambda: _after_commit(user_id=user_id, day=day, streak=streak, total=total, row_id=row_id),
            using="default",
        )
    return answer


def _after_commit(*, user_id: int, day: dt.date, streak: int, total: int, row_id: int | None) -> None:
    """Tell Redis (bit + state) and the user center. Also runs for a request that lost the race
    or found the bit missing: it repairs the cache from what the database said."""
    try:
        load_script(rules.MARK_SCRIPT)(
            keys=[rules.bitmap_key(user_id, day.year, day.month), rules.state_key(user_id)],
            args=[
                rules.day_offset(day),
                rules.BITMAP_TTL_SECONDS,
                day.isoformat(),
                streak,
                total,
                rules.STATE_TTL_SECONDS,
            ],
        )
    except RedisUnavailable:
        logger.warning("sign-in of user %s on %s not cached: Redis unavailable; repair task will", user_id, day)
        if row_id is not None:
            SignIn.objects.filter(pk=row_id).update(cache_synced=False)
        return
    usercenter_services.user_hash_write(user_id=user_id, fields={"streak": streak, "signed_today": day.isoformat()})


# ---------------------------------------------------------------- repair and rebuild


def signin_cache_repair(*, limit: int = REPAIR_BATCH_SIZE) -> int:
    """Hand sign-ins written while Redis was down to Redis: set their bits, drop the users'
    cached state (refilled from the DB on the next read). Idempotent. Returns rows repaired."""
    rows = list(
        SignIn.objects.using("default")
        .filter(cache_synced=False)
        .order_by("id")
        .values_list("id", "user_id", "date")[:limit]
    )
    if not rows:
        return 0
    # Recorded before the cached state is dropped: a fill after the drop reads the primary (the
    # rows may not be on the replica yet) and a fill that read before it stores nothing.
    db_router.remember_writes(user_ids={r[1] for r in rows})
    try:
        pipe = get_redis().pipeline(transaction=False)
        for _, user_id, day in rows:
            key = rules.bitmap_key(user_id, day.year, day.month)
            pipe.setbit(key, rules.day_offset(day), 1)
            pipe.expire(key, rules.BITMAP_TTL_SECONDS)
        for user_id in {r[1] for r in rows}:
            pipe.delete(rules.state_key(user_id))
        pipe.execute()
    except RedisUnavailable:
        logger.info("sign-in cache repair postponed: Redis still unavailable")
        return 0
    SignIn.objects.filter(pk__in=[r[0] for r in rows]).update(cache_synced=True)
    usercenter_services.user_fields_invalidate_many(user_ids={r[1] for r in rows}, group="signin")
    return len(rows)


def signin_cache_rebuild(
    *, year: int, month: int, user_ids: list[int] | None = None, progress: Callable[[int, int], None] | None = None
) -> int:
    """Rewrite the month bitmaps from the database (replacing whatever Redis holds) and drop
    the users' cached state. Users named in `user_ids` without a sign-in that month get an
    empty, complete bitmap. Returns the number of users rebuilt. Raises RedisUnavailable."""
    first, last = rules.month_bounds(year, month)
    qs = SignIn.objects.using("default").filter(date__range=(first, last))
    if user_ids:
        qs = qs.filter(user_id__in=user_ids)
    days: dict[int, list[int]] = {uid: [] for uid in user_ids or []}
    for uid, day in qs.order_by("user_id", "date").values_list("user_id", "date").iterator(chunk_size=5000):
        days.setdefault(uid, []).append(day.day)
    users = sorted(days)
    redis = get_redis()
    for start in range(0, len(users), REBUILD_PIPELINE_USERS):
        chunk = users[start : start + REBUILD_PIPELINE_USERS]
        pipe = redis.pipeline(transaction=False)
        for uid in chunk:
            pipe.set(rules.bitmap_key(uid, year, month), rules.bitmap_bytes(days[uid]), ex=rules.BITMAP_TTL_SECONDS)
            pipe.delete(rules.state_key(uid))
        pipe.execute()
        usercenter_services.user_fields_invalidate_many(user_ids=chunk, group="signin")
        if progress:
            progress(min(start + len(chunk), len(users)), len(users))
    return len(users)


def signin_cache_forget(*, user_id: int) -> None:
    """Drop a user's cached sign-in state (after an admin edit of their rows)."""
    with contextlib.suppress(RedisUnavailable):
        get_redis().delete(rules.state_key(user_id))
