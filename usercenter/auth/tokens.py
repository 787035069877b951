"""Signed bearer tokens: made and checked in-process (signature and age), no I/O."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core import signing


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


_TOKEN_SALT = "surge.usercenter.api-token"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_TOKEN_SALT)


def make_token(user_id: int) -> str:
    """A new signed token for the user (the caller stores its hash; see services.token_issue)."""
    return _signer().sign(f"{int(user_id)}.{secrets.token_urlsafe(16)}")


# Tokens whose signature this process has checked: (token, keys) -> (user id, token hash,
# signed at), or None for a bad signature. The HMAC and the SHA-256 then run once per token per
# process, not on every request (nearly all of a check's cost); the age and the revoked
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
