"""Scenarios: each one measures the Surge path against its naive baseline in the same run.

A scenario lists its variants (the Locust request spec of each), seeds what a variant needs
right before it runs (`before`), and checks invariants after it (`after`, returning the broken
ones; the runner fails loudly on any). A scenario whose endpoints are not mounted yet is
skipped with the missing paths named in the table, so the harness runs while apps land.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class SkipVariant(Exception):  # noqa: N818 - reads as a statement
    """Raised by a scenario's before() when the variant cannot run (the reason says why)."""


@dataclass
class Variant:
    name: str  # short, e.g. "surge", "naive", "nocache"
    role: str  # "surge" | "baseline" | "bare"
    spec: dict  # the locustfile manifest entry: method, targets, tokens, order, expect, body
    needs: list[str] = field(default_factory=list)  # paths that must resolve
    note: str = ""
    users: int | None = None  # concurrency override


@dataclass
class Goal:
    scenario: str
    text: str
    target: str
    measured: str
    met: bool | None  # None: could not be judged (a variant is missing)


class Scenario:
    name = ""
    title = ""
    needs_worker = False
    needs_cdn = False

    def variants(self, ctx) -> list[Variant]:
        raise NotImplementedError

    def before(self, ctx, variant: Variant) -> None:
        """Seed what this variant needs (fresh campaign, products...) and fill variant.spec."""

    def after(self, ctx, variant: Variant, result: dict) -> list[str]:
        """Invariant checks once the variant's load stopped; the broken ones as sentences.
        May add figures to result["extra"]."""
        return []

    def goals(self, ctx, results: dict[str, dict]) -> list[Goal]:
        """The issue's targets for this scenario, judged on this run's results
        (keyed by variant name)."""
        return []


def registry() -> dict[str, Scenario]:
    from loadtest.scenarios import bare, flash, grab, home, me, orders, signin

    items = [
        bare.Bare(),
        grab.Grab(),
        signin.SignIn(),
        orders.OrderList(),
        flash.FlashBuy(),
        me.Me(),
        home.Home(),
    ]
    return {s.name: s for s in items}


def _usable(r: dict | None) -> bool:
    return bool(r) and not r.get("skipped") and bool(r.get("rps"))


def cached_read_goals(scenario: str, cached: dict | None, uncached: dict | None, label: str = "") -> list[Goal]:
    """The issue's targets for cached reads: >= 2x the uncached baseline, 0 SQL per request."""
    goals = []
    what = f"{scenario}{' ' + label if label else ''}"
    if _usable(cached) and _usable(uncached):
        ratio = cached["rps"] / uncached["rps"]
        goals.append(Goal(scenario, f"{what}: cached >= 2x uncached", ">= 2.00x", f"{ratio:.2f}x", ratio >= 2.0))
    if _usable(cached) and cached.get("sql_per_req") is not None:
        sql = cached["sql_per_req"]
        goals.append(Goal(scenario, f"{what}: cached path runs no SQL", "0 SQL/req", f"{sql:.3f}", sql < 0.005))
    return goals


def wait_until(predicate, *, timeout: float, interval: float = 0.2) -> bool:
    """Poll predicate() until it is true or the timeout passes; returns the last answer."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def server_cpu_ms(r: dict) -> float | None:
    """CPU the whole server side spent per request: web + PostgreSQL/Redis + the Celery worker
    (the Surge paths move work to the worker; it must be counted)."""
    parts = [r.get(f"{k}_cpu_ms_per_req") for k in ("web", "stores", "worker")]
    if parts[0] is None:
        return None
    return sum(p or 0.0 for p in parts)


def cpu_ratio_goal(scenario: str, surge: dict | None, naive: dict | None) -> list[Goal]:
    """For reference: the naive/Surge ratio of server CPU per request, i.e. the throughput ratio
    a load generator off this box would see when both are CPU-bound."""
    if not _usable(surge) or not _usable(naive):
        return []
    a, b = server_cpu_ms(surge), server_cpu_ms(naive)
    if not a or not b:
        return []
    return [
        Goal(
            scenario,
            "(for reference) server CPU per request, web + db/redis + worker: baseline / Surge",
            "-",
            f"{b:.2f} / {a:.2f} ms = {b / a:.2f}x",
            None,
        )
    ]
