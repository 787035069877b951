"""The log-in rush before a sale: users POST their credentials to `/api/auth/login/` and get a
bearer token. Each log-in verifies a password with the production hasher (Django's PBKDF2), so
its CPU per request says how many log-ins a core serves; the capacity model turns that into how
long a crowd of users logging in takes. No baseline: the hash is the cost being measured.

The pool's accounts get one known password hashed once with the server's hasher (one salt for
the pool: each log-in still runs every PBKDF2 iteration). Invariant: one token row per log-in
answered 200."""

from __future__ import annotations

import secrets

from loadtest.scenarios import Goal, Scenario, Variant

POOL = 64
# Few clients: each log-in holds a sync worker for a few hundred ms; more clients only queue.
CLIENTS = 8


class LogIn(Scenario):
    name = "login"
    title = "log-in rush (password hashing)"

    def __init__(self):
        self.pool: list[dict] = []
        self.tokens_before = 0

    def variants(self, ctx) -> list[Variant]:
        return [
            Variant("rush", "load", {"method": "POST", "targets": ["/api/auth/login/"], "bodies": [], "expect": [200]},
                    ["/api/auth/login/"], note="PBKDF2 verify + token row per log-in", users=CLIENTS),
        ]  # fmt: skip

    def before(self, ctx, variant) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import PBKDF2PasswordHasher

        from usercenter.models import ApiToken

        self.pool = ctx.users[-POOL:]
        password = secrets.token_urlsafe(12)
        # The server's default hasher, whatever the runner uses for its throwaway accounts.
        encoded = PBKDF2PasswordHasher().encode(password, PBKDF2PasswordHasher().salt())
        ids = [u["id"] for u in self.pool]
        get_user_model().objects.filter(pk__in=ids).update(password=encoded)
        self.tokens_before = ApiToken.objects.using("default").filter(user_id__in=ids, name="login").count()
        variant.spec["bodies"] = [{"username": u["username"], "password": password} for u in self.pool]
        variant.note = f"PBKDF2, {PBKDF2PasswordHasher.iterations:,} iterations; a token row per log-in"

    def after(self, ctx, variant, result) -> list[str]:
        from usercenter.models import ApiToken

        ok = int(result["status_all"].get("200", 0))
        ids = [u["id"] for u in self.pool]
        made = ApiToken.objects.using("default").filter(user_id__in=ids, name="login").count() - self.tokens_before
        result["extra"]["tokens issued"] = made
        return [] if made == ok else [f"{made} login tokens for {ok} log-ins answered 200"]

    def goals(self, ctx, results) -> list[Goal]:
        r = results.get("rush")
        if not r or r.get("skipped") or not r.get("web_cpu_ms_per_req"):
            return []
        per_core = 1000 / r["web_cpu_ms_per_req"]
        return [
            Goal(self.name, "(for reference) log-ins one web core serves (password hashing)", "-",
                 f"{per_core:.1f}/s ({r['web_cpu_ms_per_req']:.0f} ms CPU each)", None),
        ]  # fmt: skip
