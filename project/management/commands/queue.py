"""`manage.py queue status | inspect NAME | replay-dead NAME | set-aside KEY | reap`: the reliable
queues for operators and scripts. The numbers and the dead-letter actions are the control room's
(project.controlroom.stores / actions): one implementation, two front ends."""

from __future__ import annotations

import json
import logging
import sys

from django.core.management.base import CommandError

from project import cli, queue
from project.controlroom import actions, stores
from project.redis import RedisUnavailable
from project.tasks import kick_drain

logger = logging.getLogger(__name__)

# Events shown per list by `inspect` unless --limit says otherwise: a screenful.
INSPECT_LIMIT = 10
# Characters of one event shown: enough to recognise it, never a wall of text.
EVENT_CHARS = 300

EXIT_CODES = """exit codes:
  0  done; for status: no dead letters
  1  status: dead letters exist (look with `queue inspect NAME`); replay-dead, set-aside: not
     confirmed
  2  unknown queue NAME (the known ones are listed), or replay-dead / set-aside without --yes
     and no terminal
  3  Redis is unavailable"""


def _short(item: bytes) -> str:
    text = item.decode(errors="replace")
    return text if len(text) <= EVENT_CHARS else text[:EVENT_CHARS] + "…"


class Command(cli.OperatorCommand):
    exit_codes = EXIT_CODES
    help = """The reliable queues, for operators and scripts:
  status              every queue family: queues, ready, in flight, dead letters, oldest wait
  inspect NAME        the waiting events, dead letters and consumers of a queue or family
  replay-dead NAME    list the dead letters, then put them back (or --discard them)
  set-aside KEY       move the first event(s) of a queue to its dead letters (a poison batch)
  reap                hand the batches held by dead consumers back to their queues now
NAME is a queue family (e.g. orders.flash) or one queue key (e.g. 'flash:{p7}:queue').
See `queue <subcommand> --help`."""

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True, metavar="{status,inspect,replay-dead,set-aside,reap}")
        extra = self.subcommand_options()
        p = sub.add_parser(
            "status",
            help="Per family: queues, ready, in flight, dead letters, dead consumers, oldest wait. Exit 1 on dead "
            "letters.",
            **extra,
        )
        p.add_argument("--json", action="store_true", help="Print the numbers as JSON.")
        p = sub.add_parser(
            "inspect", help="Show a queue's (or family's) waiting events, dead letters, consumers.", **extra
        )
        p.add_argument("name", help="A queue family or a queue key.")
        p.add_argument(
            "--limit", type=cli.positive_int, default=INSPECT_LIMIT, help="Events shown per list (default 10)."
        )
        p.add_argument("--json", action="store_true", help="Print as JSON.")
        p = sub.add_parser(
            "replay-dead",
            help="List a queue's dead letters, then put them back on the queue (or --discard them).",
            **extra,
        )
        p.add_argument("name", help="A queue family (all its queues with dead letters) or a queue key.")
        p.add_argument("--yes", action="store_true", help="Do it without asking (needed when not on a terminal).")
        p.add_argument("--discard", action="store_true", help="Delete the dead letters for good instead.")
        p = sub.add_parser(
            "set-aside",
            help="Move the first event(s) of one queue to its dead letters, so the rest drains past a poison event.",
            **extra,
        )
        p.add_argument("name", help="One queue key (e.g. 'rp:{42}:queue').")
        p.add_argument("--count", type=cli.positive_int, default=1, help="Events moved from the head (default 1).")
        p.add_argument("--yes", action="store_true", help="Do it without asking (needed when not on a terminal).")
        sub.add_parser("reap", help="Hand the batches held by dead consumers back to their queues now.", **extra)

    def handle(self, *args, **opts):
        try:
            return getattr(self, "do_" + opts["sub"].replace("-", "_"))(opts)
        except RedisUnavailable as exc:
            raise CommandError(
                f"Redis is unavailable ({stores.first_line(exc)}); the queues cannot be read.",
                returncode=cli.EXIT_UNAVAILABLE,
            ) from exc

    # ------------------------------------------------------------ status

    def do_status(self, opts):
        report = stores.queues_status()
        dead = sum(f["dead_letters"] for f in report["families"])
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(cli.table(stores.queue_table_rows(report), stores.QUEUE_TABLE_HEADERS))
            last = report["last_drain_seconds_ago"]
            self.stdout.write(
                "last drain: never (no worker has drained yet)" if last is None else f"last drain: {last}s ago"
            )
        if dead:
            names = ", ".join(queue.dead_queues())
            raise CommandError(
                f"{dead} dead letter(s) in {names}: `manage.py queue inspect NAME` shows them, "
                "`manage.py queue replay-dead NAME` puts them back.",
                returncode=cli.EXIT_ATTENTION,
            )

    # ------------------------------------------------------------ inspect

    def _resolve(self, name: str) -> tuple[str, list[str]]:
        """(family, its queue keys) for a family name or a queue key; CommandError(2) if unknown."""
        by_family = queue.queue_keys()
        if name in by_family:
            return name, by_family[name]
        for family, keys in by_family.items():
            if name in keys:
                return family, [name]
        family = queue.family_of(name)
        if family in queue.families() and "{" in name and name.isprintable():
            return family, [name]  # a queue of a registered family, idle now (not listed)
        listing = "\n".join(
            f"  {family}: {', '.join(keys) if keys else '(no queues now)'}"
            for family, keys in sorted(by_family.items())
        )
        raise CommandError(
            f"unknown queue {name!r}. Known queue families and their queues:\n{listing}",
            returncode=cli.EXIT_REFUSED,
        )

    def do_inspect(self, opts):
        family, keys = self._resolve(opts["name"])
        limit = opts["limit"]
        out = []
        for key in keys:
            depth, ready = queue.peek(key, limit=limit)
            dead_count, dead = queue.dead_letters(key, limit=limit)
            out.append(
                {
                    "queue": key,
                    "family": family,
                    "ready": depth,
                    "ready_head": [_short(i) for i in ready],
                    "dead_letters": dead_count,
                    "dead_head": [_short(i) for i in dead],
                    "consumers": queue.consumers(key),
                }
            )
        if opts["json"]:
            self.stdout.write(json.dumps(out, indent=2))
            return
        if not out:
            self.stdout.write(f"{family}: no queues now")
        for q in out:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{q['queue']} ({q['family']})"))
            self.stdout.write(
                f"  ready: {q['ready']}" + (f" (first {len(q['ready_head'])})" if q["ready_head"] else "")
            )
            for item in q["ready_head"]:
                self.stdout.write(f"    {item}")
            self.stdout.write(
                f"  dead letters: {q['dead_letters']}" + (f" (first {len(q['dead_head'])})" if q["dead_head"] else "")
            )
            for item in q["dead_head"]:
                self.stdout.write(f"    {item}")
            if q["consumers"]:
                rows = [
                    (
                        c["id"],
                        "yes" if c["alive"] else "NO (reaped next round)",
                        c["holding"],
                        c["heartbeat_seconds_ago"],
                    )
                    for c in q["consumers"]
                ]
                self.stdout.write("  consumers:")
                table = cli.table(rows, ("id", "alive", "holding", "heartbeat s ago"))
                self.stdout.write("\n".join("    " + line for line in table.splitlines()))

    # ------------------------------------------------------------ replay-dead

    def do_replay_dead(self, opts):
        family, keys = self._resolve(opts["name"])
        with_dead = set(queue.dead_queues())
        targets = [k for k in keys if k in with_dead]
        if not targets:
            self.stdout.write(f"no dead letters on {opts['name']} (nothing to do)")
            return
        verb = "discard" if opts["discard"] else "replay"
        total = 0
        for key in targets:
            preview = actions.dead_preview(key)
            count = queue.dead_letters(key, limit=0)[0]
            total += count
            self.stdout.write(self.style.MIGRATE_HEADING(f"{key}: {count} dead letter(s)"))
            for line in preview:
                self.stdout.write(f"    {line}")
        what = "Delete them for good" if opts["discard"] else "Put them back on their queue(s)"
        self._confirm(
            opts, f"{verb} {total} dead letter(s)", f"{what}? {total} dead letter(s) in {len(targets)} queue(s)"
        )
        run = actions.discard_dead if opts["discard"] else actions.replay_dead
        progress = cli.Progress(self.stderr, f"{verb} dead letters")
        done = []
        for i, key in enumerate(targets, 1):
            done.append(run(key))
            logger.warning("operator command: queue replay-dead%s: %s", " --discard" * opts["discard"], done[-1])
            progress.update(i, len(targets))
        progress.done()
        for message in done:
            self.stdout.write(self.style.SUCCESS(message))

    def _confirm(self, opts, doing: str, question: str) -> None:
        """Go on with --yes, or when a person at a terminal says yes; refuse without a terminal."""
        if opts["yes"]:
            return
        if not cli.is_tty(sys.stdin):
            raise CommandError(
                f"refusing to {doing} without confirmation: no terminal to ask; pass --yes to do it.",
                returncode=cli.EXIT_REFUSED,
            )
        if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
            raise CommandError("not confirmed; nothing changed.", returncode=cli.EXIT_ATTENTION)

    # ------------------------------------------------------------ set-aside

    def do_set_aside(self, opts):
        family, keys = self._resolve(opts["name"])
        if keys != [opts["name"]]:
            raise CommandError(
                f"set-aside takes one queue key, not the family {family!r}: one of {', '.join(keys) or '(none now)'}",
                returncode=cli.EXIT_REFUSED,
            )
        key = keys[0]
        depth, head = queue.peek(key, limit=opts["count"])
        if not depth:
            self.stdout.write(f"{key} is empty (nothing to set aside)")
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"{key}: the first {len(head)} of {depth} waiting event(s)"))
        for item in head:
            self.stdout.write(f"    {_short(item)}")
        self._confirm(opts, f"set aside {len(head)} event(s)", f"Move these {len(head)} to the dead letters of {key}?")
        message = actions.set_aside(key, opts["count"])
        logger.warning("operator command: queue set-aside: %s", message)
        self.stdout.write(self.style.SUCCESS(message))

    # ------------------------------------------------------------ reap

    def do_reap(self, opts):
        progress = cli.Progress(self.stderr, "reaping")
        reaped = queue.reap_all(progress=progress.update)
        progress.done()
        total = sum(reaped.values())
        for family, n in sorted(reaped.items()):
            self.stdout.write(f"{family}: {n} event(s) handed back")
        if total:
            kick_drain()
            self.stdout.write(self.style.SUCCESS(f"{total} event(s) of dead consumers back on their queues"))
        else:
            self.stdout.write("no batches held by dead consumers")
