"""Authentication that costs no SQL on a cache hit.

- Sessions live in Redis (cached_db: Redis first, the DB behind it).
- `CachedUserBackend.get_user` builds the user from a Redis copy of its row.
- `Authorization: Bearer <token>`: the token's SHA-256 maps to a user id in Redis, filled from
  `ApiToken` on a miss. A bad token on an API path is a 401 JSON answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

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
    """The user with this id, from Redis when possible; None if there is no such active user."""
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
    return _user_from_fields(fields)


def invalidate_user(user_id: int) -> None:
    try:
        cache.delete(user_cache_key(user_id))
    except RedisUnavailable:
        logger.warning("could not drop cached user %s", user_id)


def user_id_for_token(raw: str) -> int | None:
    from usercenter.models import ApiToken

    key_hash = hash_token(raw)
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
    return user_id or None


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
