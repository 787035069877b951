"""Paired wrk windows: the bare view, then the grab, then the bare view again, ... on one booted
stack, to compare settings without the drift between whole runs (this shared 2-core box's
speed moves by 20% and more over minutes, and the grab moves more than the bare view).

    python -m loadtest.pairs                      # 3 rounds of 8 s windows, stack defaults
    python -m loadtest.pairs --rounds 5 --workers 5
    QUEUE_LINGER_MS=50 python -m loadtest.pairs   # settings go to the server through the env
    python -m loadtest.pairs --no-worker          # no queue drain (events stay in Redis; no
                                                  # invariant check): what the drain costs
    python -m loadtest.pairs --floor              # a bare-redis window in each round too (the
                                                  # one-round-trip view): grab/floor ratios

Prints each window (req/s, p50/p99, CPU per request of web, worker, stores and Redis), the
paired grab/bare ratios and their median. Needs wrk (`apt-get install wrk`). Exit code 1 when
an invariant broke after a grab window.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from datetime import UTC, datetime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.pairs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per window")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--workers", type=int, default=None, help="gunicorn sync workers (default: cores + 1, min 3)")
    p.add_argument("--no-worker", action="store_true", help="no Celery worker: the grabs are not drained")
    p.add_argument("--bench-users", type=int, default=2000)
    p.add_argument("--floor", action="store_true", help="each round also measures bare-redis (bare-auth + one EVALSHA)")
    args = p.parse_args(argv)

    from loadtest import wrkcheck
    from loadtest.bench import Context, log, parse_args
    from loadtest.stack import BenchStack, stack_dir

    if not wrkcheck.wrk_path():
        print("pairs: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    bench_args = parse_args(["--scenario", "bare,grab", "--bench-users", str(args.bench_users)])
    run_dir = stack_dir() / "bench" / ("pairs-" + datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(run_dir=run_dir, db_name="surge_bench", redis_db=5, workers=args.workers)
    broken: list[str] = []
    try:
        stack.stores_up()
        stack.fresh_database()
        stack.apply_to_this_process()
        import django

        django.setup()
        from loadtest.scenarios import registry
        from loadtest.seed import create_users, warm_auth_caches

        scenarios = registry()
        users = create_users(args.bench_users)
        warm_auth_caches(users)
        ctx = Context(stack, users, bench_args)
        stack.start_web()
        if not args.no_worker:
            stack.start_worker()
        log(f"{stack.workers} gunicorn workers, worker {'off' if args.no_worker else 'on'}, run folder {run_dir}")
        bare, grab = scenarios["bare"], scenarios["grab"]
        plan = [
            ("bare", bare, next(v for v in bare.variants(ctx) if v.name == "bare")),
            *([("floor", bare, next(v for v in bare.variants(ctx) if v.name == "bare-redis"))] if args.floor else []),
            ("grab", grab, next(v for v in grab.variants(ctx) if v.name == "surge")),
        ]
        rows: dict[str, list[dict]] = {name: [] for name, _s, _v in plan}
        for i in range(args.rounds):
            for name, scenario, variant in plan:
                scenario.before(ctx, variant)
                res = wrkcheck.run(ctx, scenario, variant, connections=args.connections, duration=args.duration)
                if name == "grab" and not args.no_worker:
                    for b in scenario.after(ctx, variant, res):
                        broken.append(f"round {i}: {b}")
                per_req = {k: v * 1000 / max(res["server_requests"], 1) for k, v in res["cpu_s"].items()}
                rows[name].append(res)
                cpu = " ".join(f"{k} {v:.2f}" for k, v in per_req.items())
                print(
                    f"round {i} {name:5s} {res['rps']:6.0f} req/s  p50 {res['p50_ms']:4.0f} ms  "
                    f"p99 {res['p99_ms']:4.0f} ms  CPU ms/req: {cpu}",
                    flush=True,
                )
        ratios = [g["rps"] / b["rps"] for g, b in zip(rows["grab"], rows["bare"], strict=True)]
        print("paired grab/bare:", " ".join(f"{r:.2f}" for r in ratios), f"(median {statistics.median(ratios):.2f})")
        if args.floor:
            for label, num, den in (("floor/bare", "floor", "bare"), ("grab/floor", "grab", "floor")):
                rs = [a["rps"] / b["rps"] for a, b in zip(rows[num], rows[den], strict=True)]
                print(f"paired {label}:", " ".join(f"{r:.2f}" for r in rs), f"(median {statistics.median(rs):.2f})")
        for name in rows:
            print(
                f"{name}: median {statistics.median(r['rps'] for r in rows[name]):.0f} req/s, "
                f"median p99 {statistics.median(r['p99_ms'] for r in rows[name]):.0f} ms"
            )
    finally:
        stack.stop()
    if broken:
        print("INVARIANTS BROKEN:\n  " + "\n  ".join(broken))
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
