"""The yardstick: a bare Django JSON view, anonymous and authenticated (the same bearer-token
path every hot path pays), measured in the same run as everything else."""

from __future__ import annotations

from loadtest.scenarios import Goal, Scenario, Variant


class Bare(Scenario):
    name = "bare"
    title = "bare Django JSON view"

    def variants(self, ctx) -> list[Variant]:
        return [
            Variant("bare", "bare", {"method": "GET", "targets": ["/api/bench/bare/"]}, ["/api/bench/bare/"]),
            Variant(
                "bare-auth",
                "bare",
                {"method": "GET", "targets": ["/api/bench/bare-auth/"], "tokens": ctx.tokens()},
                ["/api/bench/bare-auth/"],
            ),
        ]

    def goals(self, ctx, results) -> list[Goal]:
        r = results.get("bare-auth")
        if not r or r.get("sql_per_req") is None:
            return []
        sql = r["sql_per_req"]
        return [
            Goal(
                self.name,
                "authenticated bare view: no SQL (signed token, cached user)",
                "0 SQL/req",
                f"{sql:.2f}",
                sql < 0.01,
            )
        ]
