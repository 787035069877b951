"""Authentication that costs no SQL, and for bearer tokens no Redis either, on the hot paths.

Sessions live in Redis (cached_db: Redis first, the DB behind it), and `CachedUserBackend`
builds the user from a cached copy of its row (this process's copy for AUTH_LOCAL_CACHE_SECONDS,
else Redis, else the database).

Bearer tokens (`Authorization: Bearer <token>`) are signed, not looked up:
`<user id>.<nonce>:<timestamp>:<signature>` from django.core.signing's TimestampSigner (salted;
SECRET_KEY_FALLBACKS lets the key rotate), valid for API_TOKEN_MAX_AGE_SECONDS. A request checks
the signature (once per token per process, then remembered) and the age in-process, then whether
the token was revoked: every process holds
the set of revoked, unexpired token hashes and asks Redis for that set's version at most every
AUTH_REVOCATION_CHECK_SECONDS (one GET per second per process, not one per request). So
authenticating a token costs no round trip at all; `request.user` is a `TokenUser` that knows
its id and loads the rest of the user only when a view asks for it.

Revoking (logout, deleting a token in the admin, deleting or deactivating its user) deletes the
`ApiToken` row and, in the same transaction, writes a `RevokedToken` row: the durable record.
After commit the hash goes into the Redis set and the set's version moves, so every process
refuses the token within AUTH_REVOCATION_CHECK_SECONDS (the revoking process at once). If Redis
missed a revocation (down at that moment, or its data lost), `sync_revocations` rewrites the set
from the table: beat runs it every few seconds, and the first process that finds the Redis copy
missing runs it too. While Redis is unreachable each token is checked in the database instead
(its row present, its user active): one query per request, as the degraded modes allow.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.db.models.signals import post_delete, post_save, pre_delete
from django.http import JsonResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from rest_framework import authentication, exceptions

from project.redis import RedisUnavailable, get_redis, load_script

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
    seconds = getattr(settings, "AUTH_LOCAL_CACHE_SECONDS", 0)
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


def clear_local() -> None:
    """Forget every process-local copy: users and the revocation set (tests; after bulk changes)."""
    local = _local_cache()
    if local is not None:
        with _local_lock:
            local.clear()
    revoked.reset()


def user_cache_key(user_id: int) -> str:
    return f"auth:user:{user_id}"


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


# ---------------------------------------------------------------- signed bearer tokens

_TOKEN_SALT = "surge.usercenter.api-token"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_TOKEN_SALT)


def make_token(user_id: int) -> str:
    """A new signed token for the user (the caller stores its hash; see services.token_issue)."""
    return _signer().sign(f"{int(user_id)}.{secrets.token_urlsafe(16)}")


# Tokens whose signature this process has checked: (token, keys) -> (user id, token hash,
# signed at), or None for a bad signature. The HMAC and the SHA-256 then run once per token per
# process, not on every request (~13 us of the ~14 us a check costs); the age and the revoked
# list are still checked on every request. Keyed by the signing keys too, so a rotation (or a
# fallback key dropped) takes effect at once. Only token-sized strings are remembered.
_SIGNED_CACHE_SIZE = 4096
_TOKEN_MAX_LEN = 256


@functools.lru_cache(maxsize=_SIGNED_CACHE_SIZE)
def _signed(raw: str, _keys: tuple) -> tuple[int, str, int] | None:
    try:
        value = _signer().unsign(raw)  # the signature only: the age is checked by the caller
        signed_at = signing.b62_decode(raw.rsplit(":", 2)[-2])
    except (signing.BadSignature, ValueError, IndexError):
        return None
    user_id, _, _nonce = value.partition(".")
    if not user_id.isdigit():
        return None
    return int(user_id), hash_token(raw), signed_at


def _checked(raw: str) -> tuple[int, str] | None:
    """(user id, token hash) when the signature holds and the token has not expired."""
    keys = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    signed = _signed(raw, keys) if len(raw) <= _TOKEN_MAX_LEN else _signed.__wrapped__(raw, keys)
    if signed is None or time.time() - signed[2] > settings.API_TOKEN_MAX_AGE_SECONDS:
        return None
    return signed[0], signed[1]


def token_user_id(raw: str) -> int | None:
    """The user id a token was signed for, if the signature holds and it has not expired. No I/O:
    a revoked token still passes here (see verify_token)."""
    checked = _checked(raw)
    return checked[0] if checked else None


def token_expires_at(created_at):
    """When a token issued at `created_at` stops verifying (plus a minute of clock slack)."""
    return created_at + timedelta(seconds=settings.API_TOKEN_MAX_AGE_SECONDS + 60)


# Redis: the revoked hashes (score: when the token expires anyway) and the set's version. One
# hash tag, so the publishing script stays in one slot.
REVOKED_KEY = "auth:{revoked}"
REVOKED_VERSION_KEY = "auth:{revoked}:v"
_PUBLISH_SCRIPT = Path(__file__).parent / "lua" / "revoke.lua"


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


def _record_revocation(sender, instance, **kwargs):
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


def _user_changed(sender, instance, **kwargs):
    invalidate_user(instance.pk)
    if kwargs.get("signal") is post_save and not instance.is_active:
        # A deactivated user's tokens stop working everywhere (signing in again needs an
        # active account, so reactivating does not bring them back).
        from usercenter.models import ApiToken

        ApiToken.objects.filter(user_id=instance.pk).delete()


def connect_signals() -> None:
    # Signals only keep caches and the revocation record in step with the rows, whoever changes
    # them (services, the admin, cascades); business rules live in services.
    from usercenter.models import ApiToken

    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="usercenter_user_cache_save")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="usercenter_user_cache_delete")
    pre_delete.connect(_record_revocation, sender=ApiToken, dispatch_uid="usercenter_token_revocation")


def bearer_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class TokenUser(SimpleLazyObject):
    """`request.user` for a verified token: `pk`/`id` and `is_authenticated` without any I/O,
    every other attribute loads the user (process copy, Redis, database). A user deleted or
    deactivated while Redis could not hear of it is refused (403) when a view loads it."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id: int):
        def load():
            user = cached_user(user_id)
            if user is None or not user.is_active:
                raise PermissionDenied("This account no longer exists or is disabled.")
            return user

        super().__init__(load)
        self.__dict__["_token_user_id"] = user_id

    @property
    def pk(self) -> int:
        return self.__dict__["_token_user_id"]

    id = pk


class BearerTokenMiddleware:
    """Resolves `Authorization: Bearer` for every view (plain Django hot paths and DRF alike)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Tokens are the API's credential: the admin (and its control room) is for staff who log
        # in through its form, where CSRF protection applies.
        raw = None if request.path_info.startswith("/admin/") else bearer_token(request)
        if raw is not None:
            try:
                user_id = verify_token(raw)
            except DatabaseError:
                logger.warning("token check failed: Redis and the primary are both unreachable")
                return JsonResponse(
                    {"detail": "Sign-in is temporarily unavailable. Please retry shortly."},
                    status=503,
                    headers={"Retry-After": "5"},
                )
            if user_id is None:
                return JsonResponse(
                    {"detail": "Invalid or expired token."},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="api"'},
                )
            request.user = TokenUser(user_id)
            request._surge_token_user_id = user_id
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
