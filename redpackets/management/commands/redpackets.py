"""Red-packet operations: create, open, close, status, reconcile."""

from __future__ import annotations

import argparse
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from project.redis import RedisUnavailable
from redpackets import selectors, services, splitting
from redpackets.models import Campaign


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def whole_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from exc


class Command(BaseCommand):
    help = (
        "Red packets: `create` a campaign (split now, opened at once unless --draft), `open` / `close` "
        "one (close refunds the ungrabbed rest to the owner), `status` of one, `reconcile` Redis with the "
        "database (--fix re-queues grabs that never reached the database)."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,open,close,status,reconcile}")
        c = sub.add_parser("create", help="Create a campaign and print its id.")
        c.add_argument("--total-cents", type=positive_int, required=True, help="Money in the packet, in cents.")
        c.add_argument("--count", type=positive_int, required=True, help="Number of shares.")
        c.add_argument("--starts-in", type=whole_int, default=0, help="Seconds from now until it opens (default 0).")
        c.add_argument("--duration", type=positive_int, required=True, help="Seconds it stays open.")
        c.add_argument("--split", choices=splitting.METHODS, default=splitting.DOUBLE_AVERAGE)
        c.add_argument("--title", default="", help="Shown to users (default: a generated one).")
        c.add_argument("--owner", default="", help="Username refunded when it closes (default: first superuser).")
        c.add_argument("--draft", action="store_true", help="Do not load it into Redis yet (use `open` later).")
        for name, text in (("open", "Load a campaign into Redis (idempotent)."), ("close", "Close and refund.")):
            p = sub.add_parser(name, help=text)
            p.add_argument("campaign_id", type=positive_int)
        s = sub.add_parser("status", help="Shares left, queue depth, persisted count and sum.")
        s.add_argument("campaign_id", type=positive_int)
        r = sub.add_parser("reconcile", help="Compare Redis with the database (all active campaigns, or one).")
        r.add_argument("campaign_id", type=positive_int, nargs="?")
        r.add_argument("--fix", action="store_true", help="Re-queue lost grabs; add unknown rows to Redis.")

    def handle(self, *args, **opts):
        try:
            return getattr(self, f"do_{opts['action']}")(opts)
        except services.CampaignError as exc:
            raise CommandError(str(exc)) from exc
        except RedisUnavailable as exc:
            raise CommandError(f"Redis is unavailable: {exc}") from exc

    def do_create(self, opts):
        owner_id = None
        users = get_user_model().objects
        if opts["owner"]:
            owner_id = users.filter(username=opts["owner"]).values_list("pk", flat=True).first()
            if owner_id is None:
                raise CommandError(f"No user named {opts['owner']!r}.")
        else:
            owner_id = users.filter(is_superuser=True).order_by("pk").values_list("pk", flat=True).first()
        starts = timezone.now() + timedelta(seconds=opts["starts_in"])
        title = opts["title"] or f"Red packet ¥{opts['total_cents'] / 100:,.2f} × {opts['count']}"
        campaign = services.campaign_create(
            title=title,
            total_cents=opts["total_cents"],
            count=opts["count"],
            starts_at=starts,
            ends_at=starts + timedelta(seconds=opts["duration"]),
            split_method=opts["split"],
            owner_id=owner_id,
            open=not opts["draft"],
        )
        self.stderr.write(f"created campaign {campaign.pk} ({campaign.status}): {campaign.title}")
        self.stdout.write(str(campaign.pk))

    def do_open(self, opts):
        result = services.campaign_open(campaign_id=opts["campaign_id"])
        verb = "loaded" if result["loaded_now"] else "already loaded (window refreshed)"
        self.stdout.write(f"campaign {result['campaign_id']} {verb}: {result['shares_left']} shares left")

    def do_close(self, opts):
        r = services.campaign_close(campaign_id=opts["campaign_id"])
        state = "was already closed" if r["already_closed"] else "closed"
        self.stdout.write(f"campaign {r['campaign_id']} {state}; refunded {r['refunded_cents']} cents")

    def do_status(self, opts):
        s = selectors.campaign_status(campaign_id=opts["campaign_id"])
        if s is None:
            raise CommandError(f"No campaign {opts['campaign_id']}.")
        for label, key in (
            ("title", "title"),
            ("status", "status"),
            ("state", "state"),
            ("window", None),
            ("total cents", "total_cents"),
            ("shares", "count"),
            ("loaded in Redis", "loaded"),
            ("shares left", "remaining_count"),
            ("cents left", "remaining_cents"),
            ("grabbed (Redis)", "grabbed_count"),
            ("queue depth", "queue_depth"),
            ("in flight", "in_flight"),
            ("persisted grabs", "persisted_count"),
            ("persisted cents", "persisted_cents"),
            ("refunded cents", "refunded_cents"),
        ):
            value = f"{s['starts_at']} .. {s['ends_at']}" if key is None else s[key]
            self.stdout.write(f"{label:>16}: {'-' if value is None else value}")

    def do_reconcile(self, opts):
        if opts["campaign_id"]:
            ids = [opts["campaign_id"]]
        else:
            ids = list(
                Campaign.objects.using("default").filter(status=Campaign.Status.OPEN).values_list("id", flat=True)
            )
            ids += services.active_campaign_ids()
            ids = sorted(set(ids))
        bad = 0
        for i, cid in enumerate(ids, 1):
            r = services.campaign_reconcile(campaign_id=cid, fix=opts["fix"])
            bad += not r["ok"]
            line = (
                f"[{i}/{len(ids)}] campaign {cid}: {'ok' if r['ok'] else 'DIFFERENCES'}; "
                f"redis grabs {r['redis_grabs']}, db rows {r['db_rows']}, queued {r['queued']}, "
                f"shares left {r['shares_left']}, missing {len(r['missing'])}, "
                f"unknown in redis {len(r['unknown_in_redis'])}, amount mismatches {len(r['amount_mismatch'])}, "
                f"books {'balance' if r['books_balance'] else 'DO NOT BALANCE'}"
            )
            if r["fixed"]:
                line += f"; re-queued {len(r['missing'])}, added to redis {len(r['unknown_in_redis'])}"
            self.stdout.write(line)
        if not ids:
            self.stdout.write("no open or active campaigns")
        elif bad and not opts["fix"]:
            self.stdout.write(f"{bad} campaign(s) differ; run with --fix to repair what can be repaired")
