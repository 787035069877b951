"""Placeholder until the app lands."""

from __future__ import annotations

from loadtest.scenarios import Scenario, Variant


class Home(Scenario):
    name = "home"

    def variants(self, ctx) -> list[Variant]:
        return [Variant("surge", "surge", {"targets": ["/api/home/"]}, ["/api/home-not-built/"])]
