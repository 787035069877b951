"""`manage.py staticgen <subcommand>`: publish, list, verify the pre-rendered CDN files."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from staticgen import selectors, services
from staticgen.storage import CdnWriter

BAR_WIDTH = 30
# When not on a terminal (CI, logs), one progress line per this many files instead of a bar.
LOG_EVERY = 200


class Progress:
    def __init__(self, stream, label: str):
        self.stream = stream
        self.label = label
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int, path: str) -> None:
        if self.tty:
            now = time.monotonic()
            if done != total and now - self.last < 0.05:
                return
            self.last = now
            filled = int(BAR_WIDTH * done / max(total, 1))
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            line = f"\r{self.label} [{bar}] {done}/{total} {path[:40]:<40}"
            # Django's OutputWrapper ends every write with a newline unless told otherwise.
            self.stream.write(line, ending="\n" if done == total else "")
            self.stream.flush()
        elif done == total or done % LOG_EVERY == 0:
            self.stream.write(f"{self.label} {done}/{total} {path}")


class Command(BaseCommand):
    help = (
        "Pre-rendered files on the CDN bucket (local cdn/ directory, or S3 with CDN_BUCKET). "
        "Subcommands: publish, list, verify (see `staticgen <sub> --help`)."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True, metavar="subcommand")
        p = sub.add_parser(
            "publish",
            help="Render every registered output and write what changed; delete files of outputs that are gone.",
        )
        p.add_argument(
            "--only",
            action="append",
            metavar="PATTERN",
            help="Only these outputs: an output name ('products/{id}.json'), a glob ('products/*') "
            "or a path ('home.json'). Repeatable.",
        )
        p.add_argument("--dry-run", action="store_true", help="Render and compare, write and delete nothing.")
        p.add_argument("--force", action="store_true", help="Write every file even if its hash is unchanged.")
        p.add_argument("--list-files", action="store_true", help="Print every written and deleted path.")
        p = sub.add_parser("list", help="The registered outputs, with file counts.")
        p.add_argument("--paths", action="store_true", help="Also print every concrete path.")
        p = sub.add_parser(
            "verify",
            help="Fetch each published object from the storage and compare it with a fresh render "
            "(exit 1 on any difference).",
        )
        p.add_argument("--only", action="append", metavar="PATTERN", help="As for publish.")

    def handle(self, *args, **opts):
        getattr(self, "_" + opts["sub"])(opts)

    def _publish(self, opts):
        writer = CdnWriter()
        self.stdout.write(f"publishing to {writer.description}{' (dry run)' if opts['dry_run'] else ''}")
        try:
            result = services.publish(
                targets=opts["only"],
                dry_run=opts["dry_run"],
                force=opts["force"],
                progress=Progress(self.stdout, "publish"),
            )
        except services.PublishBusy as exc:
            raise CommandError(str(exc)) from exc
        if opts["list_files"]:
            for path in result.written:
                self.stdout.write(f"  wrote   {path}")
            for path in result.deleted:
                self.stdout.write(f"  deleted {path}")
        for path, why in sorted(result.failed.items()):
            self.stderr.write(f"  FAILED {path}: {why}")
        if opts["only"] and not (result.written or result.unchanged or result.deleted or result.failed):
            raise CommandError(f"nothing matches {opts['only']} (see `staticgen list --paths`)")
        style = self.style.SUCCESS if result.ok else self.style.ERROR
        self.stdout.write(style(result.summary()))
        if not result.ok:
            raise CommandError(f"{len(result.failed)} output(s) failed")

    def _list(self, opts):
        rows = selectors.output_rows(with_paths=opts["paths"])
        if not rows:
            self.stdout.write("no outputs registered")
            return
        width = max(len(r["name"]) for r in rows)
        for row in rows:
            count = row["count"] if row["count"] is not None else "ERROR"
            self.stdout.write(
                f"{row['name']:<{width}}  {count!s:>6} file(s)  {row['app'] or '-':<11} "
                f"{row['content_type']:<32} {row['cache_control']}"
            )
            if row.get("error"):
                self.stderr.write(f"  {row['error']}")
            for path in row.get("paths", []):
                self.stdout.write(f"    {path}")
        last = selectors.last_run()
        if last is not None:
            self.stdout.write(
                f"last publish: {last.started_at:%Y-%m-%d %H:%M:%S} {last.status} "
                f"(written {last.written}, unchanged {last.unchanged}, deleted {last.deleted}, failed {last.failed})"
            )

    def _verify(self, opts):
        writer = CdnWriter()
        self.stdout.write(f"verifying {writer.description}")
        result = services.verify(targets=opts["only"], progress=Progress(self.stdout, "verify"))
        for label, paths in (("MISMATCH", result.mismatched), ("MISSING", result.missing), ("STALE", result.stale)):
            for path in paths:
                self.stderr.write(f"  {label} {path}")
        for path, why in sorted(result.failed.items()):
            self.stderr.write(f"  FAILED {path}: {why}")
        summary = (
            f"checked {result.checked}: {len(result.ok)} identical, {len(result.mismatched)} different, "
            f"{len(result.missing)} missing, {len(result.stale)} stale, {len(result.failed)} failed"
        )
        if not result.passed:
            self.stderr.write(self.style.ERROR(summary))
            raise CommandError("the CDN differs from a fresh render (run `staticgen publish`)")
        self.stdout.write(self.style.SUCCESS(summary))
