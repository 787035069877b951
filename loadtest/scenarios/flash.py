"""Placeholder until the app lands."""

from __future__ import annotations

from loadtest.scenarios import Scenario, Variant


class FlashBuy(Scenario):
    name = "flash"

    def variants(self, ctx) -> list[Variant]:
        return [Variant("surge", "surge", {"targets": ["/api/flash/"]}, ["/api/flash-not-built/"])]
