"""The user center `GET /api/me/`: the per-user Redis hash (zero SQL on a hit) against the same
document built from the database on every request."""

from __future__ import annotations

from loadtest.scenarios import Goal, Scenario, Variant, cached_read_goals


class Me(Scenario):
    name = "me"
    title = "user center /api/me/"

    def variants(self, ctx) -> list[Variant]:
        # A pool the warm-up fills: every request after it is a cache hit for the cached path.
        tokens = ctx.tokens(500)
        return [
            Variant("cached", "surge", {"targets": ["/api/me/"], "tokens": tokens, "prime": True}, ["/api/me/"],
                    note="per-user Redis hash"),
            Variant("nocache", "baseline", {"method": "GET", "targets": ["/api/bench/me/nocache/"], "tokens": tokens},
                    ["/api/bench/me/nocache/"], note="DB every time"),
        ]  # fmt: skip

    def goals(self, ctx, results) -> list[Goal]:
        return cached_read_goals(self.name, results.get("cached"), results.get("nocache"))
