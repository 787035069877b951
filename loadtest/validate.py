"""The capacity model checked in the bench's own run (`python -m loadtest.bench --validate-workers 1,2,3`).

After the scenarios, gunicorn is restarted with each worker count in turn and the one-round-trip
view (`bare-redis`) and the grab are measured again; then the Celery worker is stopped for one grab
storm, so the queue holds the whole storm, and restarted: the time it takes to drain that backlog
is the drain's measured throughput. `loadtest.capacity` predicts both from the CPU per request of
the main windows and prints predicted against measured (`--validate`).
"""

from __future__ import annotations

import time

from loadtest.probes import cpu_delta, cpu_snapshot, expand
from loadtest.stack import log


def restart_web(stack, workers: int) -> None:
    stack.procs.pop("web").stop()
    stack.workers = workers
    stack.start_web()


def run(ctx, scenarios, counts: list[int], *, measure, run_variant, broken: list[str]) -> dict:
    """Measured windows for the validation: {"workers": [results], "drain": {...} | None}."""
    by_name = {s.name: s for s in scenarios}
    out: dict = {"workers": [], "drain": None}
    default = ctx.stack.workers
    for n in counts:
        restart_web(ctx.stack, n)
        log(f"validation: gunicorn restarted with {n} sync worker(s)")
        for scenario_name, vname in (("bare", "bare-redis"), ("grab", "surge")):
            scenario = by_name.get(scenario_name)
            if scenario is None:
                continue
            variant = next(v for v in scenario.variants(ctx) if v.name == vname)
            variant.name = f"{vname}-w{n}"
            r = measure(ctx, scenario, variant, broken)
            r["gunicorn_workers"] = n
            r["validates"] = f"{scenario_name}.{vname}"
            out["workers"].append(r)
    if ctx.stack.workers != default:
        restart_web(ctx.stack, default)
    if "grab" in by_name and "worker" in ctx.stack.procs:
        out["drain"] = drain_backlog(ctx, by_name["grab"], run_variant=run_variant, broken=broken)
    return out


def drain_backlog(ctx, grab, *, run_variant, broken: list[str], timeout: float = 120.0) -> dict:
    """One grab storm with no consumer, then the consumer back: rows/s over the backlog and the
    worker + primary CPU per row while it drained."""
    from redpackets.models import Grab as GrabRow

    stack = ctx.stack
    for name in ("beat", "worker"):
        stack.procs.pop(name).stop()
    variant = next(v for v in grab.variants(ctx) if v.name == "surge")
    variant.name = "surge-backlog"
    grab.before(ctx, variant)
    log("validation: a grab storm with the Celery worker stopped (the queue keeps it all)")
    res = run_variant(ctx, grab, variant, users=ctx.args.users, warmup=ctx.args.warmup, duration=ctx.args.duration)
    ids = grab.campaigns[variant.name]
    rows = GrabRow.objects.using("default").filter(campaign_id__in=ids)
    wins = int(res["status_all"].get("200", 0))
    before = rows.count()
    stack.start_worker()
    pids = expand([stack.procs["worker"].pid]) + expand(stack.pg_primary_pids())
    c0, t0 = cpu_snapshot(pids), time.monotonic()
    deadline = t0 + timeout
    n, first = before, None
    while n < wins and time.monotonic() < deadline:
        time.sleep(0.05)
        n = rows.count()
        if first is None and n > before:
            first = (time.monotonic(), n)  # the first batch is in: the drain is running
        # Pool children and PostgreSQL backends started by the drain count from zero.
        pids = sorted(set(pids) | set(expand([stack.procs["worker"].pid]) + expand(stack.pg_primary_pids())))
    t_end = time.monotonic()
    elapsed = t_end - t0
    cpu = cpu_delta(c0, cpu_snapshot(pids))
    drained = n - before
    if n < wins:
        broken.append(f"grab.surge-backlog: the queue did not drain: {n} rows for {wins} grabs in {timeout:.0f} s")
    failures = grab.after(ctx, variant, res)
    for f in failures:
        broken.append(f"grab.surge-backlog: {f}")
    log(f"validation: {drained} rows drained in {elapsed:.2f} s ({drained / elapsed:,.0f} rows/s)")
    return {
        "backlog_rows": wins - before,
        "drained_rows": drained,
        "drain_s": elapsed,
        "rows_per_s": drained / elapsed if elapsed > 0 else None,
        # From the first batch seen to the last row: without beat's wait for its next tick.
        "rows_per_s_running": (n - first[1]) / (t_end - first[0]) if first and t_end > first[0] else None,
        "cpu_s": cpu,
        "cpu_ms_per_row": cpu * 1000 / drained if drained else None,
        "note": "worker start (pool ready) to the last row; beat asks for a drain every second",
    }
