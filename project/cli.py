"""Small helpers shared by the operator commands (`manage.py queue`, `health`, `orders ...`):
plain-text tables, a progress bar, and the exit codes scripts rely on."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Sequence

from django.core.management.base import BaseCommand, DjangoHelpFormatter

# Exit codes of the operator commands (each command's --help says which it uses).
EXIT_OK = 0
EXIT_ATTENTION = 1  # it ran, and found something a person must look at (dead letters, degraded)
EXIT_REFUSED = 2  # bad usage, unknown name, or a destructive step refused (argparse also exits 2)
EXIT_UNAVAILABLE = 3  # a store it needs does not answer

# A bar redrawn more often than this only costs the terminal; long work updates it thousands of times.
PROGRESS_REDRAW_SECONDS = 0.1
PROGRESS_WIDTH = 30


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's help layout, with the description and epilog (exit codes) printed as written."""


class OperatorCommand(BaseCommand):
    """An operator's command: its --help (and each subcommand's) ends with `exit_codes`, laid
    out as written, so a script's author sees what each exit status means."""

    exit_codes = ""

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = self.exit_codes
        return parser

    def subcommand_options(self) -> dict:
        """Keyword arguments for `add_parser` of each subcommand."""
        return {"epilog": self.exit_codes, "formatter_class": HelpFormatter}


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def table(rows: Iterable[Sequence], headers: Sequence[str]) -> str:
    """Left-aligned columns, wide enough for their longest cell; None shows as '-'."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def is_tty(stream) -> bool:
    """Whether a Django OutputWrapper (or a plain file) writes to a terminal."""
    isatty = getattr(getattr(stream, "_out", stream), "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


class Progress:
    """`label [#####.....] i/total` redrawn in place on a terminal (stderr, so stdout stays
    clean for --json and pipes); silent when not a terminal, so logs and scripts get only the
    summary the command prints. Call `update(i, total)`; `done()` ends the line."""

    def __init__(self, stream, label: str, *, force: bool | None = None):
        self.stream = stream
        self.label = label
        self.enabled = is_tty(stream) if force is None else force
        self.drawn_at = 0.0
        self.drawn = False

    def update(self, i: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if i < total and now - self.drawn_at < PROGRESS_REDRAW_SECONDS:
            return
        self.drawn_at = now
        filled = PROGRESS_WIDTH * min(i, total) // total
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        self._write(f"\r{self.label} [{bar}] {i}/{total}")
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self._write("\n")
            self.drawn = False

    def _write(self, text: str) -> None:
        out = getattr(self.stream, "_out", self.stream)  # past Django's OutputWrapper: no newline added
        out.write(text)
        out.flush()
