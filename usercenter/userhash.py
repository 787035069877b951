"""The per-user Redis hash `user:{uid}` as a store: scripted writes guarded by the wallet version
and the write position, and field drops. Selectors fill it, services and other apps' writes
refresh or drop it (through `usercenter.services`)."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from project import db_router
from project.redis import RedisUnavailable, get_redis, hot_pipeline, hot_script_many, load_script
from usercenter.keys import user_hash_key, user_hash_wallet_mark_key

logger = logging.getLogger(__name__)

USER_HASH_SCRIPT = Path(__file__).parent / "lua" / "user_hash_set.lua"
# How long a user's cached hash lives without being read or refreshed (jitter added on fill).
USER_HASH_TTL_SECONDS = settings.USER_HASH_TTL_SECONDS


def _user_hash_script_call(
    *,
    user_id: int,
    fields: dict,
    mode: str,
    wallet_version: int | None,
    ttl: int | None,
    forget=(),
    seen_position: str | None = None,
) -> dict:
    keys = [user_hash_key(user_id), user_hash_wallet_mark_key(user_id)]
    if seen_position is not None:  # a fill from the database: guarded by the write position
        keys.append(db_router.position_key(user_id))
    wallet = "" if wallet_version is None else wallet_version
    args: list = [ttl or USER_HASH_TTL_SECONDS, mode, wallet, seen_position or ""]
    for k, v in fields.items():
        args.extend([k, "" if v is None else v])
    for k in forget:  # '-field': the script deletes it (see user_hash_set.lua)
        args.extend(["-" + k, ""])
    return {"keys": keys, "args": args}


def user_hash_write(
    *,
    user_id: int,
    fields: dict,
    mode: str = "update",
    wallet_version: int | None = None,
    ttl: int | None = None,
    seen_position: str | None = None,
) -> None:
    """Write fields of the user's cached hash. `update` touches only an existing hash (a missing
    one is filled from the DB on the next read); `fill` creates it. A fill from the database
    passes the write position `db_router.reading_for` yielded: nothing is written if a worker
    wrote for the user since. Never raises on Redis loss."""
    call = _user_hash_script_call(
        user_id=user_id,
        fields=fields,
        mode=mode,
        wallet_version=wallet_version,
        ttl=ttl,
        seen_position=seen_position,
    )
    try:
        load_script(USER_HASH_SCRIPT)(**call)
    except RedisUnavailable:
        logger.warning("user hash for %s not refreshed: Redis unavailable", user_id)


def user_hash_write_many(*, writes: list[dict]) -> None:
    """Several `user_hash_write`s (dicts of its arguments, mode "update", plus `forget`: fields
    to delete) in one round trip, one script call per user: a drained batch of 500 grabs
    refreshes 500 wallets and drops their grab counts without 500 network waits."""
    if not writes:
        return
    calls = []
    for w in writes:
        call = _user_hash_script_call(
            user_id=w["user_id"],
            fields=w.get("fields", {}),
            mode=w.get("mode", "update"),
            wallet_version=w.get("wallet_version"),
            ttl=w.get("ttl"),
            forget=w.get("forget", ()),
        )
        calls.append((call["keys"], call["args"]))
    try:
        replies = hot_script_many(load_script(USER_HASH_SCRIPT), calls)
    except RedisUnavailable:
        logger.warning("user hashes of %d users not refreshed: Redis unavailable", len(writes))
        return
    _drop_failed([w["user_id"] for w in writes], replies, "refreshed")


def _drop_failed(user_ids: list[int], replies: list, what: str) -> None:
    """Users whose hash Redis refused to change (an error reply: wrong type, out of memory, a
    read-only replica) lose the whole hash, so no stale field outlives the write: the next
    read refills it from the database."""
    failed = [uid for uid, r in zip(user_ids, replies, strict=True) if isinstance(r, Exception)]
    if not failed:
        return
    error = next(r for r in replies if isinstance(r, Exception))
    logger.error("user hashes of %d users not %s (%s): %s; dropping them", len(failed), what, failed[:20], error)
    try:
        hot_pipeline([("DEL", user_hash_key(uid)) for uid in failed])
    except RedisUnavailable:
        logger.warning("user hashes of %d users not dropped: Redis unavailable", len(failed))


def user_hash_drop(*, user_id: int) -> None:
    try:
        get_redis().delete(user_hash_key(user_id))
    except RedisUnavailable:
        logger.warning("user hash for %s not dropped: Redis unavailable", user_id)


def user_hash_forget_many(*, user_ids, fields: list[str]) -> None:
    """`user_hash_forget` for many users in one round trip."""
    user_ids = list(user_ids)
    if not user_ids or not fields:
        return
    try:
        replies = hot_pipeline([("HDEL", user_hash_key(uid), *fields) for uid in user_ids])
    except RedisUnavailable:
        logger.warning("user hash fields %s of %d users not dropped: Redis unavailable", fields, len(user_ids))
        return
    _drop_failed(user_ids, replies, f"stripped of {fields}")


def user_hash_forget(*, user_id: int, fields: list[str]) -> None:
    """Drop some fields of the user's cached hash (call after commit). The next read refills
    just those fields from their owner's selector: an HDEL is idempotent and order-free, so a
    late refresh can never put an old count back."""
    user_hash_forget_many(user_ids=[user_id], fields=fields)
