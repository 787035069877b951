"""Revoked tokens: the durable table, the Redis set every process copies, and the check a
request makes against them (`verify_token`)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from project.redis import RedisUnavailable, get_redis, load_script
from usercenter.auth.tokens import _checked, token_expires_at

logger = logging.getLogger(__name__)

# Redis: the revoked hashes (score: when the token expires anyway) and the set's version. One
# hash tag, so the publishing script stays in one slot.
REVOKED_KEY = "auth:{revoked}"
REVOKED_VERSION_KEY = "auth:{revoked}:v"
_PUBLISH_SCRIPT = Path(__file__).parent.parent / "lua" / "revoke.lua"


class RevokedSet:
    """This process's copy of the revoked token hashes. `contains()` answers from memory and
    re-reads Redis's version at most every AUTH_REVOCATION_CHECK_SECONDS (the whole set only
    when the version moved). None means "unknown" (Redis unreachable): ask the database."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.checked = float("-inf")
        self.version: bytes | None = None
        self.hashes: frozenset[str] = frozenset()
        self.known = False

    def contains(self, key_hash: str) -> bool | None:
        if time.monotonic() - self.checked >= settings.AUTH_REVOCATION_CHECK_SECONDS:
            self.refresh()
        if not self.known:
            return None
        return key_hash in self.hashes

    def add(self, hashes) -> None:
        """Revoked here: refuse at once, and re-read the version on the next request."""
        with self._lock:
            self.hashes = self.hashes | frozenset(hashes)
            self.checked = float("-inf")

    def refresh(self, *, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self.checked < settings.AUTH_REVOCATION_CHECK_SECONDS:
                return  # another thread just did
            try:
                client = get_redis()
                version = client.get(REVOKED_VERSION_KEY)
                if version is None:
                    # Redis lost the set (flushed, restarted empty): rebuild it from the table.
                    sync_revocations(prune=False)
                    version = client.get(REVOKED_VERSION_KEY)
                if version is not None and (version != self.version or not self.known):
                    members = client.zrangebyscore(REVOKED_KEY, time.time(), "+inf")
                    self.hashes = frozenset(m.decode() if isinstance(m, bytes) else m for m in members)
                    self.version = version
                self.known = version is not None
            except (*RedisUnavailable, DatabaseError) as exc:
                if self.known or self.checked == float("-inf"):  # once per outage, not every second
                    logger.warning("revoked-token list unavailable (%s); checking tokens in the database", exc)
                self.known = False
            self.checked = time.monotonic()


revoked = RevokedSet()


def verify_token(raw: str) -> int | None:
    """The user id a bearer token stands for, or None (bad signature, expired, revoked). With
    Redis up: no I/O. With Redis down: one query on the primary."""
    checked = _checked(raw)
    if checked is None:
        return None
    user_id, key_hash = checked
    is_revoked = revoked.contains(key_hash)
    if is_revoked is None:
        return user_id if _token_live_in_db(key_hash, user_id) else None
    return None if is_revoked else user_id


def _token_live_in_db(key_hash: str, user_id: int) -> bool:
    from usercenter.models import ApiToken

    # The primary: a token issued a moment ago may not have reached the replica.
    return ApiToken.objects.using("default").filter(key_hash=key_hash, user_id=user_id, user__is_active=True).exists()


def publish_revocations(entries: list[tuple[str, float]]) -> None:
    """Add (hash, expires-at epoch) pairs to the Redis set and move its version. Without a
    version key (Redis lost the set) it does nothing: the next refresh rebuilds the set from the
    table, which already holds these rows."""
    revoked.add(h for h, _exp in entries)
    args: list = [time.time()]
    for key_hash, expires in entries:
        args += [expires, key_hash]
    try:
        load_script(_PUBLISH_SCRIPT)(keys=[REVOKED_KEY, REVOKED_VERSION_KEY], args=args)
    except RedisUnavailable:
        logger.warning("could not publish %d token revocation(s); the next sync will", len(entries))


def sync_revocations(*, prune: bool = True) -> dict:
    """Rewrite the Redis set from the RevokedToken table when they differ (one transaction, so
    readers never see half a set). prune: also delete rows and tokens past their expiry."""
    from usercenter.models import ApiToken, RevokedToken

    now = timezone.now()
    pruned = {"revocations": 0, "tokens": 0}
    if prune:
        pruned["revocations"], _ = RevokedToken.objects.filter(expires_at__lte=now).delete()
        too_old = now - timedelta(seconds=settings.API_TOKEN_MAX_AGE_SECONDS + 60)
        pruned["tokens"], _ = ApiToken.objects.filter(created_at__lt=too_old).delete()
    rows = {h: exp.timestamp() for h, exp in RevokedToken.objects.using("default").filter(expires_at__gt=now)
            .values_list("key_hash", "expires_at")}  # fmt: skip
    client = get_redis()
    current = {
        (m.decode() if isinstance(m, bytes) else m): s
        for m, s in client.zrangebyscore(REVOKED_KEY, now.timestamp(), "+inf", withscores=True)
    }
    version = client.get(REVOKED_VERSION_KEY)
    changed = version is None or set(current) != set(rows)
    if changed:
        pipe = client.pipeline(transaction=True)
        pipe.delete(REVOKED_KEY)
        if rows:
            pipe.zadd(REVOKED_KEY, {h: exp for h, exp in rows.items()})
        pipe.incr(REVOKED_VERSION_KEY)
        pipe.execute()
    return {"revoked": len(rows), "rewritten": changed, "pruned": pruned}


def record_revocation(sender, instance, **kwargs):
    """pre_delete of an ApiToken (logout, admin, a deleted or deactivated user): write the
    durable record in the deleting transaction, publish after commit. Expired tokens need none."""
    from usercenter.models import RevokedToken

    expires = token_expires_at(instance.created_at)
    if expires <= timezone.now():
        return
    RevokedToken.objects.get_or_create(
        key_hash=instance.key_hash, defaults={"user_id": instance.user_id, "expires_at": expires}
    )
    entry = (instance.key_hash, expires.timestamp())
    transaction.on_commit(lambda: publish_revocations([entry]), using="default")
