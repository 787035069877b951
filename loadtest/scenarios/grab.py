"""Placeholder until the app lands."""

from __future__ import annotations

from loadtest.scenarios import Scenario, Variant


class Grab(Scenario):
    name = "grab"

    def variants(self, ctx) -> list[Variant]:
        return [Variant("surge", "surge", {"targets": ["/api/grab/"]}, ["/api/grab-not-built/"])]
