"""`manage.py orders <subcommand>`: flash-sale opening, reconciliation, cache warming."""

import json

from django.core.management.base import BaseCommand, CommandError

from orders import services
from project.redis import RedisUnavailable


class Command(BaseCommand):
    help = "Orders operations: flash-open, reconcile-flash, warm-cache (see `orders <sub> --help`)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True, metavar="subcommand")
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
            if opts["sub"] == "flash-open":
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
                n = services.order_cache_warm(
                    users=opts["users"], progress=lambda i, total: self.stdout.write(f"  {i}/{total} users")
                )
                self.stdout.write(self.style.SUCCESS(f"page 1 warm for {n} users"))
        except services.OrderError as exc:
            raise CommandError(exc.detail) from exc
        except RedisUnavailable as exc:
            raise CommandError(f"Redis unavailable: {exc}") from exc

    def _reconcile(self, product_id: int, fix: bool):
        report = services.flash_reconcile(product_id=product_id, fix=fix)
        self.stdout.write(json.dumps(report, indent=2))
        if report["ok"]:
            self.stdout.write(self.style.SUCCESS("consistent"))
        elif report["fixed"]:
            self.stdout.write(self.style.WARNING("differences found and repaired"))
        else:
            raise CommandError("differences found; run again with --fix to repair")
