"""The flagship storm: authenticated users grab red packets. Surge path: one Lua call per grab
(no SQL), rows and wallet credits written in batches by the Celery queue drain. Baseline: the
grab done in the request under `SELECT ... FOR UPDATE` on the campaign row, row and credit in
the same transaction.

Each variant gets its own campaigns with 4/5 as many shares as there are bench users. Users
storm one packet, then the next (`pairs` order): 4 of 5 grabs of a wave win, the rest hear
"sold out"; every packet the storm reaches sells out. After the storm (and, for the Surge path,
the queue drain) the invariants are checked on the database and Redis; the drain figures come
from sampling the persisted row count during and after the storm."""

from __future__ import annotations

import math
import time

from loadtest.scenarios import Goal, Scenario, SkipVariant, Variant, wait_until

CENTS_PER_SHARE = 100


class Grab(Scenario):
    name = "grab"
    title = "red-packet grab storm"
    needs_worker = True
    needs_lb = True

    def __init__(self):
        self.campaigns: dict[str, list[int]] = {}
        self.shares: dict[str, int] = {}

    def variants(self, ctx) -> list[Variant]:
        common = {"method": "POST", "order": "pairs", "tokens": ctx.tokens(), "expect": [200, 409, 410]}
        return [
            Variant("surge", "surge", {**common, "targets": []}, ["/api/redpackets/1/grab/"],
                    note="one Lua call; rows written by the queue drain"),
            Variant("naive", "baseline", {**common, "targets": []}, ["/api/bench/redpackets/1/grab-naive/"],
                    note="SELECT ... FOR UPDATE on the campaign row in the request"),
            Variant("surge-nginx", "surge", {**common, "targets": []}, ["/api/redpackets/1/grab/"],
                    note="the Surge path through nginx (the production path): the load balancer's cost"),
        ]  # fmt: skip

    def before(self, ctx, variant) -> None:
        import datetime as dt

        from django.utils import timezone

        from redpackets import services

        if variant.name == "surge-nginx":
            if not ctx.stack.lb_url:
                raise SkipVariant("nginx is not installed (apt-get install nginx-light)")
            variant.spec["host"] = ctx.stack.lb_url
        n_users = len(ctx.users)
        shares = max(1, n_users * 4 // 5)
        expected = (3000 if variant.role == "surge" else 1500) * (ctx.args.warmup + ctx.args.duration)
        k = min(200, math.ceil(expected / n_users) + 2)
        now = timezone.now()
        ids = []
        for i in range(k):
            c = services.campaign_create(
                title=f"Bench {variant.name} {i}",
                total_cents=shares * CENTS_PER_SHARE,
                count=shares,
                starts_at=now - dt.timedelta(minutes=1),
                ends_at=now + dt.timedelta(hours=2),
                # The baseline reads its shares from the row; loading it into Redis would only
                # give the reconciler something to compare.
                open=variant.role == "surge",
            )
            ids.append(c.pk)
        self.campaigns[variant.name] = ids
        self.shares[variant.name] = shares
        path = "/api/redpackets/{}/grab/" if variant.role == "surge" else "/api/bench/redpackets/{}/grab-naive/"
        variant.spec["targets"] = [path.format(cid) for cid in ids]

    def sampler(self, ctx, variant):
        from redpackets.models import Grab as GrabRow

        ids = self.campaigns.get(variant.name, [])

        def rows():
            return GrabRow.objects.using("default").filter(campaign_id__in=ids).count()

        return rows

    def after(self, ctx, variant, result) -> list[str]:
        from django.db import connections
        from django.db.models import Count, Sum

        from redpackets import selectors
        from redpackets.models import Campaign
        from redpackets.models import Grab as GrabRow
        from usercenter.models import LedgerEntry, Wallet

        ids = self.campaigns[variant.name]
        shares = self.shares[variant.name]
        wins = int(result["status_all"].get("200", 0))
        server_wins = sum(
            int(v["status"].get("200", 0)) for v in result.get("server_all", {}).values() if v.get("status")
        )
        rows = GrabRow.objects.using("default").filter(campaign_id__in=ids)
        broken: list[str] = []
        extra = result["extra"]
        if server_wins and server_wins != wins:
            extra["note"] = f"server counted {server_wins} grabs answered 200, the clients saw {wins}"
        wins = max(wins, server_wins)
        if variant.role == "surge":
            storm_start, storm_end = result["started_wall"], result["ended_wall"]
            done = wait_until(lambda: rows.count() >= wins, timeout=30 if ctx.quick else 120, interval=0.1)
            drained_at = time.time()
            if not done:
                broken.append(f"the queue did not drain: {rows.count()} rows for {wins} grabs after the storm")
            series = [(t, n) for t, n in result.get("series", []) if n is not None]
            at_end = _at(series, storm_end)
            backlog = max(0, wins - at_end)
            drain_s = max(0.0, drained_at - storm_end)
            storm_s = storm_end - storm_start
            grab_rate = wins / storm_s if storm_s > 0 else 0.0
            during = at_end / storm_s if storm_s > 0 else 0.0
            # Worker CPU per row: what one row costs the consumer, hence its capacity per core.
            w0, w1 = _at(series, result["window_start_wall"]), _at(series, result["window_end_wall"])
            cpu = result.get("cpu_s", {}).get("worker") or 0.0
            per_row = cpu * 1000 / (w1 - w0) if w1 > w0 else None
            extra.update(
                {
                    "grabs answered 200 (whole run)": wins,
                    "grab rate (200s per second of storm)": round(grab_rate),
                    "rows persisted per second during the storm": round(during),
                    "backlog at storm end (rows)": backlog,
                    "time from storm end to queue drained (s)": round(drain_s, 2),
                    "drain rate after the storm (rows/s)": round(backlog / drain_s) if backlog and drain_s else None,
                    "consumer CPU per row (ms)": round(per_row, 3) if per_row else None,
                    "consumer capacity per core (rows/s, from CPU per row)": round(1000 / per_row) if per_row else None,
                }
            )
            result["drain"] = {
                "rows_in_window": w1 - w0,
                "grab_rate": grab_rate,
                "persist_rate_during": during,
                "backlog_at_end": backlog,
                "drain_s": drain_s,
                "cpu_ms_per_row": per_row,
            }
        n_rows = rows.count()
        if n_rows != wins:
            broken.append(f"{n_rows} Grab rows for {wins} grabs answered 200")
        dup = rows.values("campaign_id", "user_id").annotate(n=Count("id")).filter(n__gt=1).count()
        if dup:
            broken.append(f"{dup} users hold two grabs of one packet")
        per = {
            r["campaign_id"]: (r["n"], r["s"] or 0)
            for r in rows.values("campaign_id").annotate(n=Count("id"), s=Sum("amount_cents")).order_by()
        }
        totals = dict(Campaign.objects.using("default").filter(pk__in=ids).values_list("id", "total_cents"))
        sold_out = 0
        for cid, (n, s) in per.items():
            if n > shares:
                broken.append(f"packet {cid}: {n} grabs for {shares} shares")
            if s > totals[cid]:
                broken.append(f"packet {cid}: paid {s} cents out of a total of {totals[cid]}")
            if n == shares:
                sold_out += 1
                if s != totals[cid]:
                    broken.append(f"packet {cid} sold out but its grabs sum to {s}, not {totals[cid]}")
        if variant.role == "surge":
            live = selectors.live_numbers(campaign_ids=ids)
            for cid in ids:
                lv = live.get(cid)
                n, s = per.get(cid, (0, 0))
                if lv is None:
                    broken.append(f"packet {cid} vanished from Redis")
                    continue
                if lv["remaining_count"] + n != shares or lv["remaining_cents"] + s != totals[cid]:
                    broken.append(
                        f"packet {cid}: Redis has {lv['remaining_count']} shares / {lv['remaining_cents']} cents "
                        f"left beside {n} rows / {s} cents persisted (of {shares} / {totals[cid]})"
                    )
        grabbed_cents = sum(s for _n, s in per.values())
        with connections["default"].cursor() as cur:
            cur.execute(
                "SELECT count(*), coalesce(sum(amount_cents), 0) FROM usercenter_ledgerentry "
                "WHERE kind = 'redpacket_grab' AND split_part(reference, ':', 2)::bigint = ANY(%s)",
                [ids],
            )
            n_ledger, ledger_cents = cur.fetchone()
        if n_ledger != n_rows or ledger_cents != grabbed_cents:
            broken.append(
                f"ledger has {n_ledger} grab entries / {ledger_cents} cents for {n_rows} rows / {grabbed_cents} cents"
            )
        all_ledger = LedgerEntry.objects.using("default").aggregate(s=Sum("amount_cents"))["s"] or 0
        all_wallets = Wallet.objects.using("default").aggregate(s=Sum("balance_cents"))["s"] or 0
        if all_ledger != all_wallets:
            broken.append(f"wallet balances sum to {all_wallets} cents but the ledger to {all_ledger}")
        extra.update({"packets reached": len(per), "packets sold out": sold_out, "cents paid": grabbed_cents})
        return broken

    def goals(self, ctx, results) -> list[Goal]:
        s, n = results.get("surge"), results.get("naive")
        goals: list[Goal] = []
        if not s or s.get("skipped"):
            return goals
        # Req/s ratios are for reference: the goals are judged on CPU per request (cpu_goals).
        xb = s.get("x_bare")
        if xb is not None:
            goals.append(Goal(self.name, "(for reference) grab vs bare Django view, req/s", "-", f"{xb:.2f}x", None))
        xa = s.get("x_bare_auth")
        if xa is not None:
            goals.append(
                Goal(self.name, "(for reference) grab vs the authenticated bare view", "-", f"{xa:.2f}x", None)
            )
        xf = s.get("x_floor")
        if xf is not None:
            goals.append(
                Goal(self.name, "(for reference) grab vs the one-round-trip view (bare-redis)", "-", f"{xf:.2f}x", None)
            )
        if n and not n.get("skipped") and n.get("rps"):
            ratio = s["rps"] / n["rps"]
            goals.append(Goal(self.name, "(for reference) grab vs select_for_update baseline, req/s", "-",
                              f"{ratio:.2f}x", None))  # fmt: skip
            if s.get("p99_ms") and n.get("p99_ms"):
                pr = s["p99_ms"] / n["p99_ms"]
                goals.append(Goal(self.name, f"grab p99 vs baseline p99 at {s['users']} clients", "<= 0.25x",
                                  f"{s['p99_ms']:.0f} / {n['p99_ms']:.0f} ms = {pr:.2f}x", pr <= 0.25))  # fmt: skip
        if s.get("sql_per_req") is not None:
            goals.append(Goal(self.name, "grab runs no SQL", "0 SQL/req", f"{s['sql_per_req']:.3f}",
                              s["sql_per_req"] < 0.005))  # fmt: skip
        d = s.get("drain")
        if d:
            kept = d["backlog_at_end"] <= max(200, d["grab_rate"] * 2)
            goals.append(
                Goal(self.name, "consumer keeps up with the grabs (queue never grows)",
                     "backlog at storm end <= 2 s of grabs",
                     f"{d['persist_rate_during']:.0f} rows/s persisted vs {d['grab_rate']:.0f} grabs/s; "
                     f"backlog {d['backlog_at_end']}, drained {d['drain_s']:.1f} s after", kept)
            )  # fmt: skip
            if d.get("cpu_ms_per_row"):
                cap = 1000 / d["cpu_ms_per_row"]
                goals.append(
                    Goal(self.name, "(for reference) consumer process alone, rows/s per core", "-",
                         f"{cap:.0f} rows/s ({d['cpu_ms_per_row']:.3f} ms worker CPU per row)", None)
                )  # fmt: skip
        lb = results.get("surge-nginx")
        if lb and not lb.get("skipped") and lb.get("lb_cpu_ms_per_req") is not None:
            goals.append(
                Goal(self.name, "(for reference) nginx CPU per grab through the load balancer", "-",
                     f"{lb['lb_cpu_ms_per_req']:.3f} ms; web {lb.get('web_cpu_ms_per_req', 0):.2f} ms "
                     f"(direct {s.get('web_cpu_ms_per_req', 0):.2f} ms)", None)
            )  # fmt: skip
        return goals


def _at(series: list[tuple[float, int]], t: float) -> int:
    """The sampled row count at wall time t (linear between samples)."""
    if not series:
        return 0
    prev = series[0]
    if t <= prev[0]:
        return prev[1]
    for cur in series[1:]:
        if cur[0] >= t:
            span = cur[0] - prev[0]
            frac = (t - prev[0]) / span if span > 0 else 1.0
            return round(prev[1] + frac * (cur[1] - prev[1]))
        prev = cur
    return series[-1][1]
