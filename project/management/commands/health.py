"""`manage.py health [--json]`: every store with its role and lag, and the queues, from the same
read as the control room (project.controlroom.stores), with an exit code for scripts."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from project import cli
from project.controlroom import stores

EXIT_CODES = """exit codes:
  0  healthy
  1  degraded: the site serves, a person should look (replica down or lagging past
     REPLICA_MAX_LAG_SECONDS, a side store down, dead letters)
  2  down: the primary or Redis does not answer"""

EXIT_FOR = {stores.HEALTHY: 0, stores.DEGRADED: 1, stores.DOWN: 2}


def _detail(store: dict) -> str:
    """Redis: memory against its limit, eviction policy, AOF (what the sale-day checklist asks)."""
    if store["name"] != "redis" or not store["ok"]:
        return ""
    limit = store.get("maxmemory") or "no limit"
    aof = "appendonly yes" if store.get("appendonly") else "appendonly NO"
    return f"memory {store.get('memory')} of {limit} ({store.get('maxmemory_policy')}), {aof}"


class Command(cli.OperatorCommand):
    exit_codes = EXIT_CODES
    help = """Every store (PostgreSQL primary and replica, Redis, the broker and Patroni members when
configured): whether it answers, its role, replica lag and replay position; then the queue
families (ready, in flight, dead letters, oldest wait). A table, or --json."""

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **opts):
        report = stores.health()
        status, reasons = stores.verdict(report)
        if opts["json"]:
            self.stdout.write(json.dumps({"status": status, "reasons": reasons, **report}, indent=2, default=str))
        else:
            self._table(report, status)
        if status != stores.HEALTHY:
            raise CommandError(f"{status}: " + "; ".join(reasons), returncode=EXIT_FOR[status])

    def _table(self, report: dict, status: str) -> None:
        rows = []
        for s in report["stores"]:
            lag = s.get("lag_seconds")
            if s.get("replica_lag_bytes") is not None:
                lag = f"{s['replica_lag_bytes']} B"
            elif s.get("lag_bytes") is not None:
                lag = f"{s['lag_bytes']} B"
            rows.append(
                (
                    s["name"],
                    "up" if s["ok"] else "DOWN",
                    s.get("role"),
                    lag,
                    s.get("replay_lsn"),
                    s.get("where"),
                    "; ".join(filter(None, [s.get("error"), *(s.get("warnings") or []), _detail(s)])),
                )
            )
        self.stdout.write(cli.table(rows, ("store", "state", "role", "lag s", "replay lsn", "where", "notes")))
        queues = report.get("queues") or {}
        self.stdout.write("")
        if not queues:
            self.stdout.write("queues: unknown (Redis is down)")
        elif queues.get("error"):
            self.stdout.write(f"queues: unreadable ({queues['error']})")
        else:
            self.stdout.write(cli.table(stores.queue_table_rows(queues), stores.QUEUE_TABLE_HEADERS))
            last = queues.get("last_drain_seconds_ago")
            self.stdout.write("last drain: never" if last is None else f"last drain: {last}s ago")
        self.stdout.write("")
        style = {stores.HEALTHY: self.style.SUCCESS, stores.DEGRADED: self.style.WARNING}.get(status, self.style.ERROR)
        self.stdout.write(style(f"status: {status}"))
