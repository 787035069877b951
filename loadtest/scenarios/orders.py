"""Placeholder until the app lands."""

from __future__ import annotations

from loadtest.scenarios import Scenario, Variant


class OrderList(Scenario):
    name = "orders"

    def variants(self, ctx) -> list[Variant]:
        return [Variant("surge", "surge", {"targets": ["/api/orders/"]}, ["/api/orders-not-built/"])]
