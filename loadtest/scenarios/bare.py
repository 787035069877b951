"""The yardstick: a bare Django JSON view, anonymous and authenticated (the same bearer-token
path every hot path pays), and authenticated with one Redis round trip (bare-redis: the floor of
any view that must ask Redis once), measured in the same run as everything else."""

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
            Variant(
                "bare-redis",
                "bare",
                {"method": "POST", "targets": ["/api/bench/bare-redis/"], "tokens": ctx.tokens()},
                ["/api/bench/bare-redis/"],
                note="bare-auth plus one EVALSHA (no keys) on the hot connection: the one-round-trip floor",
            ),
        ]

    def goals(self, ctx, results) -> list[Goal]:
        goals: list[Goal] = []
        f = results.get("bare-redis")
        if f and f.get("x_bare") is not None:
            goals.append(
                Goal(
                    self.name,
                    "(for reference) one Redis round trip: bare-redis vs bare",
                    "-",
                    f"{f['x_bare']:.2f}x",
                    None,
                )
            )
        r = results.get("bare-auth")
        if not r or r.get("sql_per_req") is None:
            return goals
        sql = r["sql_per_req"]
        return goals + [
            Goal(
                self.name,
                "authenticated bare view: no SQL (signed token, cached user)",
                "0 SQL/req",
                f"{sql:.2f}",
                sql < 0.01,
            )
        ]
