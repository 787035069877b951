"""`manage.py beat status [--json]`: which beat holds the beat lock, and when each periodic job
last ran and from which beat (project/beat.py)."""

from __future__ import annotations

import json
import time

from django.core.management.base import CommandError

from project import beat, cli
from project.celery import app
from project.redis import RedisUnavailable, get_redis

EXIT_CODES = f"""exit codes:
  {cli.EXIT_OK}  a beat holds the lock
  {cli.EXIT_ATTENTION}  no beat holds the lock: nothing sends the queue drain or the periodic jobs
  {cli.EXIT_UNAVAILABLE}  Redis does not answer"""


class Command(cli.OperatorCommand):
    exit_codes = EXIT_CODES
    help = """The beat lock (beat:lock in Redis): the active beat (host:pid:nonce) and how long its
lock still runs; then every beat schedule entry with its period and its last run as recorded by
the workers (which beat sent it, how long ago)."""

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True, metavar="{status}")
        p = sub.add_parser("status", help="The active beat and the last run of each job.", **self.subcommand_options())
        p.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **opts):
        try:
            holder = beat.holder()
            ttl_ms = get_redis().pttl(beat.LOCK_KEY) if holder else None
            runs = beat.recent_runs()
        except RedisUnavailable as exc:
            raise CommandError(f"Redis does not answer: {exc}", returncode=cli.EXIT_UNAVAILABLE) from exc
        now = time.time()
        last: dict[str, dict] = {}
        for run in runs:  # oldest first: the last one wins
            last[run["task"]] = run
        jobs = [
            {
                "entry": name,
                "task": entry["task"],
                "every_seconds": float(entry["schedule"]),
                "last_run_seconds_ago": round(now - last[entry["task"]]["at"], 1) if entry["task"] in last else None,
                "last_sent_by": last[entry["task"]]["by"] if entry["task"] in last else None,
            }
            for name, entry in sorted(app.conf.beat_schedule.items())
        ]
        report = {"active": holder, "lock_ms_left": ttl_ms, "jobs": jobs}
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(f"active beat: {holder or 'NONE'}" + (f" (lock {ttl_ms} ms left)" if holder else ""))
            rows = [(j["entry"], j["every_seconds"], j["last_run_seconds_ago"], j["last_sent_by"]) for j in jobs]
            self.stdout.write(cli.table(rows, ["entry", "every s", "last run s ago", "sent by"]))
        if not holder:
            raise CommandError("no beat holds the beat lock", returncode=cli.EXIT_ATTENTION)
