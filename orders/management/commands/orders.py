"""`manage.py orders <subcommand>`: flash-sale creation, opening and closing, reconciliation,
cache warming."""

import argparse
import json
from datetime import datetime, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from orders import services
from project import cli
from project.redis import RedisUnavailable

EXIT_CODES = """exit codes:
  0  done
  1  it failed: the message says why (unknown or not a flash product, bad values, differences
     found without --fix)
  2  bad usage (argparse)
  3  Redis is unavailable (flash-close: the sale is closed in the database already; run it
     again once Redis is back)"""


def whole_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from exc


def aware_datetime(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO date and time (2026-12-24T20:00)") from exc
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(cli.OperatorCommand):
    exit_codes = EXIT_CODES
    help = """Orders operations (see `orders <subcommand> --help`):
  flash-create        create a flash-sale product (and --open it); prints its id
  flash-open ID       load a sale's window, limit and stock into Redis
  flash-close ID      end a sale now, in the database and Redis (buys answer 410); safe twice
  reconcile-flash ID  compare a sale's Redis state with the orders in the database (--fix)
  warm-cache          fill the cached first order page of recently active users"""

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True, metavar="subcommand")
        extra = self.subcommand_options()
        p = sub.add_parser(
            "flash-create",
            help="Create a flash-sale product and print its id (--open loads it into Redis now).",
            **extra,
        )
        p.add_argument("--name", required=True, help="Product name shown to buyers.")
        p.add_argument("--price-cents", type=cli.positive_int, required=True, help="Price of one unit, in cents.")
        p.add_argument("--stock", type=cli.positive_int, required=True, help="Units in stock.")
        p.add_argument(
            "--flash-stock", type=whole_int, default=0, help="Units offered in the sale (default 0: all of the stock)."
        )
        p.add_argument("--per-user-limit", type=cli.positive_int, default=1, help="Units one user may buy (default 1).")
        when = p.add_mutually_exclusive_group()
        when.add_argument("--starts-in", type=whole_int, help="Seconds from now until it starts (default 0).")
        when.add_argument("--starts-at", type=aware_datetime, help="When it starts (ISO; server time zone if naive).")
        until = p.add_mutually_exclusive_group(required=True)
        until.add_argument("--duration", type=cli.positive_int, help="Seconds it lasts.")
        until.add_argument("--ends-at", type=aware_datetime, help="When it ends (ISO).")
        p.add_argument("--description", default="", help="Product description.")
        p.add_argument("--image-url", default="", help="Product image (https URL).")
        p.add_argument("--rank", type=whole_int, default=0, help="Higher is hotter on the home page (default 0).")
        p.add_argument("--open", action="store_true", help="Load it into Redis now (else beat does, shortly before).")
        p = sub.add_parser(
            "flash-close",
            help="End a flash sale now: its window ends in the database and Redis; buys answer 410. Safe twice.",
            **extra,
        )
        p.add_argument("product_id", type=int)
        p = sub.add_parser("flash-open", help="Load a flash sale (window, limit, stock) into Redis.")
        p.add_argument("product_id", type=int)
        p.add_argument(
            "--restock", action="store_true", help="Re-open: load a fresh allotment even if the sale is loaded."
        )
        p = sub.add_parser(
            "reconcile-flash",
            help="Compare a sale's Redis stock, per-user counts and queued tokens with DB orders.",
        )
        p.add_argument("product_id", type=int)
        p.add_argument("--fix", action="store_true", help="Repair what differs (otherwise only report).")
        p = sub.add_parser("warm-cache", help="Fill the cached first order page of recently active users.")
        p.add_argument("--users", type=int, default=1000, help="How many users (most recent orders first).")

    def handle(self, *args, **opts):
        try:
            if opts["sub"] == "flash-create":
                self._create(opts)
            elif opts["sub"] == "flash-close":
                self._close(opts["product_id"])
            elif opts["sub"] == "flash-open":
                result = services.flash_open(product_id=opts["product_id"], restock=opts["restock"])
                self.stdout.write(
                    self.style.SUCCESS(
                        f"flash sale {result['product_id']} open: {result['stock']} "
                        f"units in Redis, starts {result['starts_at']}"
                    )
                )
            elif opts["sub"] == "reconcile-flash":
                self._reconcile(opts["product_id"], opts["fix"])
            elif opts["sub"] == "warm-cache":
                if opts["users"] < 1:
                    raise CommandError("--users must be at least 1")
                progress = cli.Progress(self.stderr, "warming page 1")
                n = services.order_cache_warm(users=opts["users"], progress=progress.update)
                progress.done()
                self.stdout.write(self.style.SUCCESS(f"page 1 warm for {n} users"))
        except services.OrderError as exc:
            raise CommandError(exc.detail) from exc
        except RedisUnavailable as exc:
            note = ""
            if opts["sub"] == "flash-close":
                note = " The sale is closed in the database; run flash-close again once Redis is back."
            raise CommandError(f"Redis unavailable: {exc}.{note}", returncode=cli.EXIT_UNAVAILABLE) from exc

    def _create(self, opts):
        if opts["starts_at"] is not None:
            starts = opts["starts_at"]
        else:
            starts = timezone.now() + timedelta(seconds=opts["starts_in"] or 0)
        ends = opts["ends_at"] or starts + timedelta(seconds=opts["duration"])
        result = services.flash_create(
            name=opts["name"],
            price_cents=opts["price_cents"],
            stock=opts["stock"],
            flash_stock=opts["flash_stock"],
            per_user_limit=opts["per_user_limit"],
            starts_at=starts,
            ends_at=ends,
            description=opts["description"],
            image_url=opts["image_url"],
            rank=opts["rank"],
            open=opts["open"],
        )
        product = result["product"]
        state = f"open, {result['opened']['stock']} units in Redis" if result["opened"] else "not loaded yet"
        self.stderr.write(
            f"created flash product {product.pk} ({state}): {product.name}, "
            f"{product.flash_starts_at.isoformat()} to {product.flash_ends_at.isoformat()}"
        )
        self.stdout.write(str(product.pk))

    def _close(self, product_id: int):
        r = services.flash_end(product_id=product_id)
        state = "closed" if r["closed_now"] else "was already over"
        where = "database and Redis" if r["loaded"] else "database (not loaded in Redis)"
        self.stdout.write(self.style.SUCCESS(f"flash sale {product_id} {state} (ended {r['ended_at']}; {where})"))
        if r["pending"]:
            self.stdout.write(f"{r['pending']} accepted buy(s) still queued: they become orders as the queue drains")

    def _reconcile(self, product_id: int, fix: bool):
        report = services.flash_reconcile(product_id=product_id, fix=fix)
        self.stdout.write(json.dumps(report, indent=2))
        if report["ok"]:
            self.stdout.write(self.style.SUCCESS("consistent"))
        elif report["fixed"]:
            self.stdout.write(self.style.WARNING("differences found and repaired"))
        else:
            raise CommandError("differences found; run again with --fix to repair")
