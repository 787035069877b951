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

The package: `users` (cached users, the session backend), `tokens` (signing), `revocation`
(the revoked set and `verify_token`), `middleware` (bearer tokens for every view), `signals`.
Its public names are re-exported here, so `usercenter.auth.CachedUserBackend` and the other
dotted paths in settings keep working.
"""

from usercenter.auth.middleware import BearerTokenAuthentication, BearerTokenMiddleware, TokenUser, bearer_token
from usercenter.auth.revocation import (
    REVOKED_KEY,
    REVOKED_VERSION_KEY,
    RevokedSet,
    publish_revocations,
    revoked,
    sync_revocations,
    verify_token,
)
from usercenter.auth.signals import connect_signals
from usercenter.auth.tokens import _signed, hash_token, make_token, token_expires_at, token_user_id
from usercenter.auth.users import (
    USER_FIELDS,
    CachedUserBackend,
    cached_user,
    clear_local_users,
    invalidate_user,
    user_cache_key,
)


def clear_local() -> None:
    """Forget every process-local copy: users and the revocation set (tests; after bulk changes)."""
    clear_local_users()
    revoked.reset()


__all__ = [
    "REVOKED_KEY",
    "REVOKED_VERSION_KEY",
    "USER_FIELDS",
    "BearerTokenAuthentication",
    "BearerTokenMiddleware",
    "CachedUserBackend",
    "RevokedSet",
    "TokenUser",
    "_signed",
    "bearer_token",
    "cached_user",
    "clear_local",
    "connect_signals",
    "hash_token",
    "invalidate_user",
    "make_token",
    "publish_revocations",
    "revoked",
    "sync_revocations",
    "token_expires_at",
    "token_user_id",
    "user_cache_key",
    "verify_token",
]
