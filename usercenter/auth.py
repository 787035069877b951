"""Authentication that costs no SQL on a cache hit.

- Sessions live in Redis (cached_db: Redis first, the DB behind it).
- `CachedUserBackend.get_user` builds the user from a Redis copy of its row.
- `Authorization: Bearer <token>`: the token's SHA-256 maps to a user id in Redis, filled from
  `ApiToken` on a miss. A bad token on an API path is a 401 JSON answer.
- Both lookups also go through a process-local cache of AUTH_LOCAL_CACHE_SECONDS (a few
  seconds): under a storm each user's token and row are read from Redis once per process and
  interval instead of on every request, which saves the hot paths two of their three Redis
  round trips. The price: another process notices a revoked token or a deactivated user up to
  that many seconds late (this process at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.http import JsonResponse
from rest_framework import authentication, exceptions

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
_NO_USER = 0  # cached "this token maps to nobody", so a flood of bad tokens stays off the DB
# Process-local copies: enough entries for every user active in a storm; lock: TTLCache is not
# thread-safe (gthread workers, the test server).
_LOCAL_SIZE = 50_000
_local_lock = threading.Lock()
_local_users: TTLCache | None = None
_local_tokens: TTLCache | None = None


def _local_caches() -> tuple[TTLCache, TTLCache] | None:
    global _local_users, _local_tokens
    seconds = getattr(settings, "AUTH_LOCAL_CACHE_SECONDS", 0)
    if seconds <= 0:
        return None
    if _local_users is None or _local_users.ttl != seconds:
        _local_users = TTLCache(maxsize=_LOCAL_SIZE, ttl=seconds)
        _local_tokens = TTLCache(maxsize=_LOCAL_SIZE, ttl=seconds)
    return _local_users, _local_tokens


def _local_get(which: int, key):
    caches = _local_caches()
    if caches is None:
        return None
    with _local_lock:
        return caches[which].get(key)


def _local_set(which: int, key, value) -> None:
    caches = _local_caches()
    if caches is not None:
        with _local_lock:
            caches[which][key] = value


def _local_forget(which: int, key) -> None:
    caches = _local_caches()
    if caches is not None:
        with _local_lock:
            caches[which].pop(key, None)


def clear_local() -> None:
    """Forget every process-local copy (tests; after bulk changes)."""
    caches = _local_caches()
    if caches is not None:
        with _local_lock:
            caches[0].clear()
            caches[1].clear()


def user_cache_key(user_id: int) -> str:
    return f"auth:user:{user_id}"


def token_cache_key(key_hash: str) -> str:
    return f"auth:tok:{key_hash}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _user_from_fields(fields: dict):
    user = get_user_model()(**fields)
    user._state.adding = False
    user._state.db = "default"
    return user


def cached_user(user_id: int):
    """The user with this id: this process's copy, else Redis, else the database; None if there
    is no such user."""
    fields = _local_get(0, user_id)
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
    _local_set(0, user_id, fields)
    return _user_from_fields(fields)


def invalidate_user(user_id: int) -> None:
    _local_forget(0, user_id)
    try:
        cache.delete(user_cache_key(user_id))
    except RedisUnavailable:
        logger.warning("could not drop cached user %s", user_id)


def user_id_for_token(raw: str) -> int | None:
    from usercenter.models import ApiToken

    key_hash = hash_token(raw)
    user_id = _local_get(1, key_hash)
    if user_id:
        return user_id
    try:
        user_id = cache.get(token_cache_key(key_hash))
    except RedisUnavailable:
        user_id = None
    if user_id is None:
        user_id = ApiToken.objects.filter(key_hash=key_hash).values_list("user_id", flat=True).first() or _NO_USER
        try:
            # Unknown tokens are remembered briefly, real ones for longer.
            ttl = settings.API_TOKEN_CACHE_SECONDS if user_id else 60
            cache.set(token_cache_key(key_hash), user_id, ttl)
        except RedisUnavailable:
            pass
    if user_id:
        _local_set(1, key_hash, user_id)
    return user_id or None


def forget_token(key_hash: str) -> None:
    _local_forget(1, key_hash)
    with contextlib.suppress(RedisUnavailable):
        cache.delete(token_cache_key(key_hash))


class CachedUserBackend(ModelBackend):
    def get_user(self, user_id):
        try:
            user = cached_user(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and self.user_can_authenticate(user) else None


def _invalidate_on_change(sender, instance, **kwargs):
    invalidate_user(instance.pk)


def connect_signals() -> None:
    # Keeping a cache in step with its row is the one job signals do here; business rules
    # live in services.
    user_model = get_user_model()
    post_save.connect(_invalidate_on_change, sender=user_model, dispatch_uid="usercenter_user_cache_save")
    post_delete.connect(_invalidate_on_change, sender=user_model, dispatch_uid="usercenter_user_cache_delete")


# ---------------------------------------------------------------- bearer tokens


def bearer_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class BearerTokenMiddleware:
    """Resolves `Authorization: Bearer` for every view (plain Django hot paths and DRF alike)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = bearer_token(request)
        if raw is not None:
            user_id = user_id_for_token(raw)
            user = cached_user(user_id) if user_id else None
            if user is None or not user.is_active:
                return JsonResponse(
                    {"detail": "Invalid or expired token."},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="api"'},
                )
            request.user = user
            request._cached_user = user
            request._surge_token_user_id = user.pk
            # Token clients send no cookies, so there is no cross-site request to forge.
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF side of the middleware above (which already checked the token)."""

    def authenticate(self, request):
        django_request = request._request
        if getattr(django_request, "_surge_token_user_id", None):
            return (django_request.user, None)
        if bearer_token(django_request) is not None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
