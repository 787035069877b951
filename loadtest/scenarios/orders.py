"""My orders: `GET /api/orders/?page=N`. Page 1 (40 orders) from Redis with zero SQL on a hit,
pages 2+ from the replica; baseline: the same pages from the database every time.

Seed: a pool of users with 60 orders each (so page 2 exists), bulk-inserted (200 users x 60
orders through the purchase service would take longer than the whole bench)."""

from __future__ import annotations

from loadtest.scenarios import Goal, Scenario, Variant, cached_read_goals

ORDERS_PER_USER = 60


class OrderList(Scenario):
    name = "orders"
    title = "order list"

    def __init__(self):
        self.seeded = False

    def _pool(self, ctx):
        return ctx.users[: (40 if ctx.quick else 200)]

    def variants(self, ctx) -> list[Variant]:
        tokens = [u["token"] for u in self._pool(ctx)]
        p1, nc = "/api/orders/", "/api/bench/orders/nocache/"
        mix = [0.8, 0.2]
        return [
            Variant("p1-cached", "surge", {"targets": [p1 + "?page=1"], "tokens": tokens, "prime": True}, [p1],
                    note="Redis page 1"),
            Variant("p1-nocache", "baseline", {"targets": [nc + "?page=1"], "tokens": tokens}, [nc], note="DB"),
            Variant("browse", "surge", {"targets": [p1 + "?page=1", p1 + "?page=2"], "weights": mix, "tokens": tokens},
                    [p1], note="80% page 1, 20% page 2"),
            Variant("browse-nocache", "baseline",
                    {"targets": [nc + "?page=1", nc + "?page=2"], "weights": mix, "tokens": tokens}, [nc],
                    note="80% page 1, 20% page 2, DB"),
        ]  # fmt: skip

    def before(self, ctx, variant) -> None:
        if self.seeded:
            return
        import datetime as dt
        import uuid

        from django.utils import timezone

        from orders.models import Order, Product

        products = Product.objects.bulk_create(
            [Product(name=f"Bench product {i}", price_cents=100 + i, stock=1_000_000, rank=i) for i in range(50)]
        )
        now = timezone.now()
        rows = []
        for u in self._pool(ctx):
            for j in range(ORDERS_PER_USER):
                p = products[(u["id"] + j) % len(products)]
                rows.append(
                    Order(
                        user_id=u["id"],
                        product=p,
                        quantity=1,
                        amount_cents=p.price_cents,
                        token=f"bench-{uuid.uuid4().hex}",
                        created_at=now - dt.timedelta(minutes=j),
                    )
                )
        Order.objects.bulk_create(rows, batch_size=5000)
        try:
            from orders.services import orders_imported
        except ImportError:
            pass
        else:
            orders_imported(user_ids=[u["id"] for u in self._pool(ctx)])
        # 12,000 fresh rows wake autovacuum/autoanalyze a few seconds later, inside a measured
        # window (seen: the stores' CPU per request tripled). Do that work now.
        from django.db import connections

        with connections["default"].cursor() as cur:
            cur.execute("VACUUM ANALYZE orders_order")
        self.seeded = True

    def goals(self, ctx, results) -> list[Goal]:
        return cached_read_goals(self.name, results.get("p1-cached"), results.get("p1-nocache"), "page 1")
