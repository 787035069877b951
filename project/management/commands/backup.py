"""`manage.py backup create|list|verify|restore`: pgBackRest backups and point-in-time restores."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from project import backup, cli

EXIT_CODES = """exit codes:
  0  done
  1  pgBackRest ran and failed (its error is printed): no backup, a check that failed, a restore
     that stopped
  2  bad usage, or refused (restore into a non-empty directory without --delta, a time
     without a zone)
  3  pgBackRest cannot be run (PGBACKREST_COMMAND not found)

after a restore (deploy/runbooks/restore.md): put the restored data directory in service, then
  manage.py redpackets reconcile --fix     re-queues grabs Redis has and the database lost
  manage.py orders reconcile-flash ID --fix   the same for each flash sale
and let the workers drain; nothing is paid twice (unique ledger references, order tokens)."""


def _timestamp(raw: str) -> datetime:
    value = parse_datetime(raw.replace(" ", "T", 1))
    if value is None:
        raise CommandError(f"--to {raw!r}: not a date and time (e.g. 2026-12-02T15:04:05+00:00)", returncode=2)
    if value.tzinfo is None:
        raise CommandError(f"--to {raw!r}: give a time zone (e.g. +00:00): a restore point must be exact", returncode=2)
    return value


class Command(cli.OperatorCommand):
    exit_codes = EXIT_CODES
    help = """pgBackRest backups of the PostgreSQL cluster (a full backup plus the WAL archive:
restores to any moment the archive covers).

  create [--type full|diff|incr]   take a backup (pgbackrest.conf's repo1-retention-full: fulls kept)
  list [--json]                    backups, and the WAL archive's span (the restore window)
  verify                           the archive works now, and the repository's checksums
  restore --pg-path DIR [--to TIMESTAMP] [--delta] [--set LABEL]
                                   restore into DIR, replaying WAL up to TIMESTAMP (ISO 8601 with
                                   a zone; default: the end of the archive), then promote.
                                   Starts nothing: see deploy/runbooks/restore.md."""

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,list,verify,restore}")
        c = sub.add_parser("create", help="Take a backup.")
        c.add_argument("--type", choices=["full", "diff", "incr"], default="full", dest="kind")
        c.add_argument("--json", action="store_true")
        li = sub.add_parser("list", help="Backups and the restore window.")
        li.add_argument("--json", action="store_true")
        sub.add_parser("verify", help="pgbackrest check + verify.")
        r = sub.add_parser("restore", help="Point-in-time restore into a data directory.")
        r.add_argument("--pg-path", required=True, help="Data directory to restore into (empty unless --delta).")
        r.add_argument("--to", dest="target", default="", metavar="TIMESTAMP", help="Stop replaying WAL here.")
        r.add_argument("--delta", action="store_true", help="Restore over an existing data directory.")
        r.add_argument("--set", dest="label", default="", help="Restore this backup (label) instead of the latest.")

    def handle(self, *args, **opts):
        try:
            getattr(self, f"do_{opts['action']}")(opts)
        except backup.BackupUnavailable as exc:
            raise CommandError(str(exc), returncode=3) from exc
        except backup.BackupFailed as exc:
            raise CommandError(f"pgbackrest failed: {exc}", returncode=1) from exc

    def do_create(self, opts):
        started = time.monotonic()
        entry = backup.backup_create(kind=opts["kind"])
        if opts["json"]:
            self.stdout.write(json.dumps(entry, indent=2))
        else:
            self.stdout.write(f"backup {entry['label']} ({entry['type']}) in {time.monotonic() - started:.1f}s")

    def do_list(self, opts):
        info = backup.backup_list()
        if opts["json"]:
            self.stdout.write(json.dumps(info, indent=2))
            return
        rows = [(b["label"], b["type"], b["started"], b["stopped"], b["size_bytes"]) for b in info["backups"]]
        self.stdout.write(cli.table(rows, ["label", "type", "started", "stopped", "size"]))
        archive = info["archive"] or {}
        self.stdout.write(f"stanza: {info['status']}; WAL archive {archive.get('min')} .. {archive.get('max')}")
        if not info["backups"]:
            raise CommandError("no backup in the repository", returncode=1)

    def do_verify(self, opts):
        for line in backup.backup_verify():
            self.stdout.write(f"ok  {line}")

    def do_restore(self, opts):
        target = _timestamp(opts["target"]) if opts["target"] else None
        path = opts["pg_path"]
        if os.path.isdir(path) and os.listdir(path) and not opts["delta"]:
            raise CommandError(
                f"{path} is not empty: stop its server and pass --delta, or pick a new one", returncode=2
            )
        started = time.monotonic()
        backup.backup_restore(pg_path=path, target=target, delta=opts["delta"], label=opts["label"])
        self.stdout.write(
            f"restored into {path} in {time.monotonic() - started:.1f}s "
            f"({'to ' + target.isoformat() if target else 'to the end of the archive'}); "
            "start PostgreSQL on it, then reconcile (deploy/runbooks/restore.md)"
        )
