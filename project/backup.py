"""Backups through pgBackRest: full/differential/incremental backups plus the WAL archive
(PostgreSQL's archive_command, set by Patroni, pushes every segment), so a restore can stop at
any moment inside the archive (point-in-time recovery).

pgBackRest runs where the data is: `PGBACKREST_COMMAND` is how this host reaches it (the dev
stack's wrapper runs it as `postgres` with its config; in production e.g. `sudo -u postgres
pgbackrest` on the repository host). Restores go into a data directory and start nothing: putting
the restored cluster in service is the runbook's job (deploy/runbooks/restore.md)."""

from __future__ import annotations

import json
import shlex
import subprocess
from datetime import UTC, datetime

from django.conf import settings

# A backup of a busy database takes minutes; a restore of one, longer. Bounded all the same.
BACKUP_TIMEOUT_SECONDS = 3600
INFO_TIMEOUT_SECONDS = 60


class BackupUnavailable(Exception):
    """pgBackRest cannot be run from here (not installed, or the command does not start)."""


class BackupFailed(Exception):
    """pgBackRest ran and failed; the message is its own error output."""


def _command() -> list[str]:
    return [*shlex.split(settings.PGBACKREST_COMMAND), f"--stanza={settings.PGBACKREST_STANZA}"]


def run(*args: str, timeout: float = BACKUP_TIMEOUT_SECONDS) -> str:
    try:
        res = subprocess.run([*_command(), *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise BackupUnavailable(f"cannot run {settings.PGBACKREST_COMMAND!r}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackupFailed(f"pgbackrest {' '.join(args)} did not finish in {timeout:.0f}s") from exc
    if res.returncode != 0:
        raise BackupFailed((res.stderr or res.stdout).strip() or f"pgbackrest exit {res.returncode}")
    return res.stdout


def backup_create(*, kind: str = "full") -> dict:
    """Take a backup (full, diff or incr) and return its entry from `backup_list`."""
    run("backup", f"--type={kind}")
    return backup_list()["backups"][-1]


def backup_list() -> dict:
    """The backups in the repository and the span of archived WAL: the restore window runs from
    the oldest backup's end to the newest archived segment."""
    info = json.loads(run("info", "--output=json", timeout=INFO_TIMEOUT_SECONDS) or "[]")
    stanza = next((s for s in info if s.get("name") == settings.PGBACKREST_STANZA), None)
    if stanza is None:
        return {"status": "missing", "backups": [], "archive": None}
    backups = [
        {
            "label": b["label"],
            "type": b["type"],
            "started": _ts(b["timestamp"]["start"]),
            "stopped": _ts(b["timestamp"]["stop"]),
            "size_bytes": b.get("info", {}).get("size"),
            "repo_bytes": b.get("info", {}).get("repository", {}).get("delta"),
            "wal_start": b.get("archive", {}).get("start"),
            "wal_stop": b.get("archive", {}).get("stop"),
        }
        for b in stanza.get("backup", [])
    ]
    archives = stanza.get("archive", [])
    archive = {"min": archives[-1].get("min"), "max": archives[-1].get("max")} if archives else None
    return {"status": stanza.get("status", {}).get("message", ""), "backups": backups, "archive": archive}


def backup_verify() -> list[str]:
    """`check` (the archive works now: a WAL switch reaches the repository) and `verify` (every
    file in the repository matches its checksum). Returns what was checked."""
    run("check", timeout=300)
    run("verify")
    return [
        "archive_command pushes WAL to the repository (pgbackrest check)",
        "repository checksums (pgbackrest verify)",
    ]


def backup_restore(*, pg_path: str, target: datetime | None = None, delta: bool = False, label: str = "") -> list[str]:
    """Restore into `pg_path` (a data directory, empty unless `delta`), replaying WAL up to
    `target` (None: to the end of the archive), then promote. Returns the pgbackrest arguments."""
    args = ["restore", f"--pg1-path={pg_path}", "--target-action=promote"]
    if target is not None:
        args += ["--type=time", f"--target={target.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f+00')}"]
    if delta:
        args.append("--delta")
    if label:
        args.append(f"--set={label}")
    run(*args)
    return args


def _ts(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat()
