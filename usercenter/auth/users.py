"""Users from a cached copy of their row: this process's copy for AUTH_LOCAL_CACHE_SECONDS, else
Redis, else the database; the session backend that uses it."""

from __future__ import annotations

import contextlib
import logging
import threading

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from project.redis import RedisUnavailable

logger = logging.getLogger(__name__)

USER_FIELDS = (
    "id",
    "username",
    "password",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "last_login",
    "date_joined",
)
# Process-local copies of users: enough entries for every user active in a storm; the lock
# because TTLCache is not thread-safe (gthread workers, the test server).
_LOCAL_SIZE = 50_000
_local_lock = threading.Lock()
_local_users: TTLCache | None = None


def _local_cache() -> TTLCache | None:
    global _local_users
    seconds = settings.AUTH_LOCAL_CACHE_SECONDS
    if seconds <= 0:
        return None
    if _local_users is None or _local_users.ttl != seconds:
        _local_users = TTLCache(maxsize=_LOCAL_SIZE, ttl=seconds)
    return _local_users


def _local_get(key):
    local = _local_cache()
    if local is None:
        return None
    with _local_lock:
        return local.get(key)


def _local_set(key, value) -> None:
    local = _local_cache()
    if local is not None:
        with _local_lock:
            local[key] = value


def _local_forget(key) -> None:
    local = _local_cache()
    if local is not None:
        with _local_lock:
            local.pop(key, None)


def clear_local_users() -> None:
    """Forget every process-local copy of a user."""
    local = _local_cache()
    if local is not None:
        with _local_lock:
            local.clear()


def user_cache_key(user_id: int) -> str:
    return f"auth:user:{user_id}"


def _user_from_fields(fields: dict):
    user = get_user_model()(**fields)
    # A row loaded from the database as far as Django can tell (Model._state is its public hook).
    user._state.adding = False  # noqa: SLF001  Model._state: a row loaded from the database, as Django marks one
    user._state.db = "default"  # noqa: SLF001  Model._state: a row loaded from the database, as Django marks one
    return user


def cached_user(user_id: int):
    """The user with this id: this process's copy, else Redis, else the database; None if there
    is no such user."""
    fields = _local_get(user_id)
    if fields is not None:
        return _user_from_fields(fields)
    try:
        fields = cache.get(user_cache_key(user_id))
    except RedisUnavailable:
        fields = None
        logger.warning("user cache unavailable; loading user %s from the database", user_id)
    if fields is None:
        row = get_user_model().objects.filter(pk=user_id).values(*USER_FIELDS).first()
        if row is None:
            return None
        fields = row
        with contextlib.suppress(RedisUnavailable):
            cache.set(user_cache_key(user_id), fields, settings.AUTH_USER_CACHE_SECONDS)
    _local_set(user_id, fields)
    return _user_from_fields(fields)


def invalidate_user(user_id: int) -> None:
    _local_forget(user_id)
    try:
        cache.delete(user_cache_key(user_id))
    except RedisUnavailable:
        logger.warning("could not drop cached user %s", user_id)


class CachedUserBackend(ModelBackend):
    def get_user(self, user_id):
        try:
            user = cached_user(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and self.user_can_authenticate(user) else None
