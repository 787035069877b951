"""Flash-sale storm: `POST /api/flash/<product_id>/buy/` (one Lua call: window, per-user limit,
stock, enqueue; 202 with a token, the order written by the queue drain) against the baseline
that does the whole buy in the request under `SELECT ... FOR UPDATE` on the product row.

Each variant gets its own products (limit 1 per user, stock = half the bench users). Users
storm one product, then the next (`pairs` order): half of each wave buys, the rest are told
it sold out. Invariants after the drain: orders == units sold (202/201 answers), stock never
negative in the database or Redis, sold + left == the allotment, no user over the limit."""

from __future__ import annotations

import math
import time

from loadtest.scenarios import Goal, Scenario, Variant, wait_until

LIMIT = 1


class FlashBuy(Scenario):
    name = "flash"
    title = "flash-sale buy"
    needs_worker = True

    def __init__(self):
        self.products: dict[str, list[int]] = {}
        self.stock: dict[str, int] = {}

    def variants(self, ctx) -> list[Variant]:
        tokens = ctx.tokens()
        common = {"method": "POST", "body": {"quantity": 1}, "order": "pairs", "tokens": tokens}
        return [
            Variant("surge", "surge", {**common, "targets": [], "expect": [202, 409, 410]}, ["/api/flash/1/buy/"],
                    note="Lua + queue, order written by the worker"),
            Variant("naive", "baseline", {**common, "targets": [], "expect": [201, 409, 410]},
                    ["/api/bench/orders/flash-naive/1/buy/"], note="SELECT ... FOR UPDATE in the request"),
        ]  # fmt: skip

    def before(self, ctx, variant) -> None:
        import datetime as dt

        from django.utils import timezone

        from orders import services
        from orders.models import Product

        n_users = len(ctx.users)
        stock = max(1, n_users // 2)
        # Enough products that the storm never runs out of fresh (user, product) pairs.
        expected = (3000 if variant.role == "surge" else 1500) * (ctx.args.warmup + ctx.args.duration)
        k = min(200, math.ceil(expected / n_users) + 2)
        now = timezone.now()
        products = Product.objects.bulk_create(
            [
                Product(
                    name=f"Bench flash {variant.name} {i}",
                    price_cents=999,
                    stock=stock,
                    is_flash=True,
                    flash_starts_at=now - dt.timedelta(minutes=1),
                    flash_ends_at=now + dt.timedelta(hours=2),
                    flash_per_user_limit=LIMIT,
                    flash_stock=stock,
                )
                for i in range(k)
            ]
        )
        ids = [p.pk for p in products]
        if variant.role == "surge":
            for pid in ids:
                services.flash_open(product_id=pid)
            path = "/api/flash/{}/buy/"
        else:
            path = "/api/bench/orders/flash-naive/{}/buy/"
        self.products[variant.name] = ids
        self.stock[variant.name] = stock
        variant.spec["targets"] = [path.format(pid) for pid in ids]

    def sampler(self, ctx, variant):
        from orders.models import Order

        ids = self.products.get(variant.name, [])

        def rows():
            return Order.objects.using("default").filter(product_id__in=ids, source="flash").count()

        return rows

    def after(self, ctx, variant, result) -> list[str]:
        from django.db.models import Count, Min, Sum

        from orders import selectors, services
        from orders.models import Order, Product

        ids = self.products[variant.name]
        stock = self.stock[variant.name]
        ok = 202 if variant.role == "surge" else 201
        sold = int(result["status_all"].get(str(ok), 0))
        orders = Order.objects.using("default").filter(product_id__in=ids, source="flash")
        broken = []
        if variant.role == "surge":
            storm_end = result["ended_wall"]

            def drained():
                pending = sum(services.flash_pending(product_id=pid)["events"] for pid in ids)
                return pending == 0 and orders.count() >= sold

            done = wait_until(drained, timeout=30 if ctx.quick else 90)
            drain_s = time.time() - storm_end
            if not done:
                broken.append(f"the queue did not drain within {drain_s:.0f}s after the storm")
            result["extra"]["drain after storm (s)"] = round(drain_s, 2)
        n_orders = orders.count()
        units = orders.aggregate(s=Sum("quantity"))["s"] or 0
        if n_orders != sold:
            broken.append(f"{n_orders} orders for {sold} units sold ({ok} answers)")
        over = orders.values("user_id", "product_id").annotate(q=Sum("quantity")).filter(q__gt=LIMIT).count()
        if over:
            broken.append(f"{over} (user, product) pairs over the per-user limit of {LIMIT}")
        db = Product.objects.using("default").filter(pk__in=ids).aggregate(low=Min("stock"), left=Sum("stock"))
        if db["low"] is not None and db["low"] < 0:
            broken.append(f"database stock went negative ({db['low']})")
        if (db["left"] or 0) + units != stock * len(ids):
            broken.append(f"stock left {db['left']} + units ordered {units} != allotment {stock * len(ids)}")
        if variant.role == "surge":
            left = [selectors.flash_remaining(product_id=pid) for pid in ids]
            if any(x is not None and x < 0 for x in left):
                broken.append(f"Redis stock went negative ({min(x for x in left if x is not None)})")
        per_product = orders.values("product_id").annotate(n=Count("id")).order_by("-n").first()
        result["extra"].update(
            {
                "products stormed": sum(1 for pid in ids if orders.filter(product_id=pid).exists()),
                "units sold": sold,
                "orders in the database": n_orders,
                "most orders on one product": per_product["n"] if per_product else 0,
                "stock per product": stock,
            }
        )
        return broken

    def goals(self, ctx, results) -> list[Goal]:
        s, n = results.get("surge"), results.get("naive")
        if not s or not n or s.get("skipped") or n.get("skipped") or not n.get("rps"):
            return []
        ratio = s["rps"] / n["rps"]
        # Judged on CPU per request (cpu_goals); the req/s ratio stays for reference.
        return [Goal(self.name, "(for reference) flash buy vs the locked baseline, req/s", "-", f"{ratio:.2f}x", None)]
