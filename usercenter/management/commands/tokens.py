"""`manage.py tokens`: API bearer tokens.

manage.py tokens list [--user ID] [--limit N]   tokens issued (hash prefix, user, name, age)
manage.py tokens revoke --user ID               revoke every token of a user (lost phone, breach)
manage.py tokens sync                           re-publish the revoked-token list to Redis now and
                                                prune expired rows (beat does it every 10 s)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.timesince import timesince

from project.redis import RedisUnavailable
from usercenter import auth, services
from usercenter.models import ApiToken


class Command(BaseCommand):
    help = "API bearer tokens: list, revoke --user ID, sync (the revoked-token list in Redis)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        p = sub.add_parser("list", help="tokens issued, newest first")
        p.add_argument("--user", type=int, help="only this user's tokens")
        p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
        p = sub.add_parser("revoke", help="revoke every token of a user")
        p.add_argument("--user", type=int, required=True, help="the user id")
        sub.add_parser("sync", help="re-publish the revoked-token list to Redis and prune expired rows")

    def handle(self, *args, action, **opts):
        getattr(self, "do_" + action)(**opts)

    def do_list(self, *, user=None, limit=50, **_):
        tokens = ApiToken.objects.select_related("user").order_by("-created_at")
        if user is not None:
            tokens = tokens.filter(user_id=user)
        total = tokens.count()
        now = timezone.now()
        for t in tokens[:limit]:
            state = "expired" if auth.token_expires_at(t.created_at) <= now else "valid"
            self.stdout.write(
                f"{t.key_hash[:12]}…  user {t.user_id} ({t.user.username})  {t.name or '-'}  "
                f"issued {timesince(t.created_at, now)} ago  {state}"
            )
        self.stdout.write(f"{total} token(s)" + (f", first {limit} shown" if total > limit else ""))

    def do_revoke(self, *, user, **_):
        n = services.tokens_revoke_for_user(user_id=user)
        self.stdout.write(self.style.SUCCESS(f"revoked {n} token(s) of user {user}"))

    def do_sync(self, **_):
        try:
            result = auth.sync_revocations(prune=True)
        except RedisUnavailable as exc:
            raise CommandError(f"Redis is unreachable ({exc}); tokens are checked in the database meanwhile") from exc
        self.stdout.write(
            f"revoked tokens listed: {result['revoked']}"
            f" ({'rewritten' if result['rewritten'] else 'already up to date'});"
            f" pruned {result['pruned']['revocations']} expired revocation(s)"
            f" and {result['pruned']['tokens']} expired token(s)"
        )
