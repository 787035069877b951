"""Sign-in operations: `manage.py signin rebuild-cache ...`, `manage.py signin stats ...`."""

from __future__ import annotations

import datetime as dt
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from project.redis import RedisUnavailable
from signin import rules, selectors, services


class Command(BaseCommand):
    help = (
        "Daily sign-in operations.\n"
        "  rebuild-cache [--user ID] [--month YYYY-MM]  rewrite Redis month bitmaps from the database\n"
        "  stats [--date YYYY-MM-DD]                    sign-ins, points and streaks of one day"
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="ACTION")
        sub.required = True
        rebuild = sub.add_parser(
            "rebuild-cache",
            help="Rewrite the Redis calendars (month bitmaps) from the database.",
            description="Rewrite the Redis month bitmaps from the database and drop cached streaks "
            "(refilled on the next read). Default: every user who signed in this month.",
        )
        rebuild.add_argument(
            "--user", type=int, action="append", dest="users", metavar="ID", help="only this user id (repeatable)"
        )
        rebuild.add_argument("--month", metavar="YYYY-MM", help="the month (default: this month, site time zone)")
        stats = sub.add_parser(
            "stats",
            help="Count the sign-ins of one day.",
            description="Sign-ins, points awarded and the streak spread of one day.",
        )
        stats.add_argument("--date", metavar="YYYY-MM-DD", help="the day (default: today, site time zone)")
        stats.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **opts):
        if opts["action"] == "rebuild-cache":
            self.rebuild(opts)
        else:
            self.stats(opts)

    def rebuild(self, opts):
        today = rules.today()
        try:
            year, month = rules.parse_month(opts["month"]) if opts["month"] else (today.year, today.month)
        except ValueError as exc:
            raise CommandError(f"--month: {exc}") from exc
        users = opts["users"] or None
        if users:
            known = set(get_user_model().objects.filter(pk__in=users).values_list("pk", flat=True))
            missing = sorted(set(users) - known)
            if missing:
                raise CommandError(f"--user: no user with id {', '.join(map(str, missing))}")
        label = f"{year:04d}-{month:02d}"
        self.stdout.write(f"rebuilding sign-in calendars of {label} ...")

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  {done}/{total} users ({100 * done // max(total, 1)}%)")

        try:
            n = services.signin_cache_rebuild(year=year, month=month, user_ids=users, progress=progress)
        except RedisUnavailable as exc:
            raise CommandError(f"Redis is unavailable: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"rebuilt {n} user calendar(s) for {label}"))

    def stats(self, opts):
        if opts["date"]:
            try:
                day = dt.date.fromisoformat(opts["date"])
            except ValueError as exc:
                raise CommandError("--date must look like YYYY-MM-DD, e.g. 2026-11-25") from exc
        else:
            day = rules.today()
        data = selectors.signin_stats(day=day)
        if opts["json"]:
            self.stdout.write(json.dumps(data))
            return
        self.stdout.write(f"sign-ins on {data['date']}: {data['signins']}")
        self.stdout.write(f"points awarded: {data['points_awarded']}")
        self.stdout.write(f"streak: average {data['avg_streak']}, longest {data['max_streak']}")
        for label, n in data["by_streak"].items():
            self.stdout.write(f"  streak {label:>3}: {n}")
        if data["unsynced"]:
            self.stdout.write(self.style.WARNING(f"{data['unsynced']} sign-in(s) not yet in Redis (repair pending)"))
