"""Bench users and their bearer tokens, created in the runner process through Django.

Why not the register API: each registration hashes a password with PBKDF2 (hundreds of ms of
CPU on this box), so 2,000 users over HTTP would take minutes and heat the server before the
first measurement. The runner instead calls usercenter's own services in-process
(`user_register`, `token_issue`: the same rows a real sign-up creates, profile and wallet
included) with a fast password hasher for these throwaway accounts only. Their passwords are
random and never used: the load uses bearer tokens.
"""

from __future__ import annotations

import secrets
import time


def create_users(n: int, *, prefix: str = "bench", stdout=print) -> list[dict]:
    """n users with one bearer token each: [{"id", "username", "token"}]."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers

    from usercenter import services as uc

    # Throwaway accounts: MD5 instead of PBKDF2 keeps 2,000 sign-ups to a few seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    started = time.monotonic()
    users = []
    for i in range(n):
        user = uc.user_register(username=f"{prefix}{i:05d}", password=secrets.token_urlsafe(16))
        token = uc.token_issue(user_id=user.pk, name="bench")
        users.append({"id": user.pk, "username": user.username, "token": token})
        if n >= 1000 and (i + 1) % 1000 == 0:
            stdout(f"bench: {i + 1}/{n} users")
    stdout(f"bench: {n} users with tokens in {time.monotonic() - started:.1f}s")
    return users


def warm_auth_caches(users: list[dict]) -> None:
    """Fill the user row caches and publish the revoked-token list the way the first requests
    would, so every scenario measures logged-in users in steady state (a user's first request
    after a cold cache costs a SQL query; that is not what a storm looks like)."""
    from usercenter.auth import cached_user, verify_token

    for u in users:
        uid = verify_token(u["token"])
        if uid:
            cached_user(uid)
