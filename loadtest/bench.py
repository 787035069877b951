"""The benchmark runner: boots its own stack in production settings, runs every scenario's Surge
path against its naive baseline with Locust (FastHttpUser, headless), checks invariants after
each storm, and prints/saves the comparison table.

    python -m loadtest.bench                       # all scenarios (make bench)
    python -m loadtest.bench --scenario grab,me    # some (bare always runs: it is the yardstick)
    python -m loadtest.bench --quick               # seconds per variant, few users (CI smoke)
    python -m loadtest.bench --ui                  # boot + seed, then Locust's web UI on :8089

Stack: the dev stack's stores (SURGE_DEVSTACK_DIR), a fresh database `surge_bench` and Redis
database 5, gunicorn with sync workers (cores + 1), a Celery worker (concurrency 2) and beat,
and nginx (or a tiny Python server) serving the CDN folder. Exit code: 0 when every invariant
held, 1 when one broke (a fast wrong answer is a failure), 2 on harness errors.
Goals the issue sets are judged and printed, but a missed goal does not fail the run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from loadtest import report
from loadtest.scenarios import SkipVariant
from loadtest.stack import PY, ROOT, BenchStack, log, stack_dir

RESULTS_DIR = ROOT / "loadtest" / "results"
RESULTS_MD = ROOT / "loadtest" / "RESULTS.md"


class Context:
    """What scenarios get: the stack, the bench users, and small HTTP helpers."""

    def __init__(self, stack: BenchStack, users: list[dict], args):
        self.stack = stack
        self.users = users
        self.args = args
        self.quick = args.quick
        self.run_dir = stack.run_dir
        self.url = stack.url

    @property
    def cdn_url(self) -> str:
        return self.stack.cdn_url

    def tokens(self, n: int | None = None) -> list[str]:
        return [u["token"] for u in self.users[:n]]

    def resolves(self, path: str) -> bool:
        from django.urls import Resolver404, resolve

        try:
            resolve(path.split("?", 1)[0])
            return True
        except Resolver404:
            return False

    def http(self, method: str, path: str, *, token: str | None = None, body=None, base: str | None = None):
        """(status, decoded JSON or text) of one request to the server under test."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request((base or self.url) + path, data=data, method=method)  # noqa: S310 - loopback
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:  # noqa: S310 - loopback
                status, raw = res.status, res.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")


# ---------------------------------------------------------------- one variant


def metrics_deltas(before: dict | None, after: dict | None) -> dict:
    """Per view: requests, SQL queries, Redis commands the server counted between two scrapes
    (the scrape's own view excluded)."""
    if not before or not after:
        return {}
    views: dict[str, dict] = {}
    for key, v in after["requests"].items():
        view, _, status = key.partition("|")
        d = v - before["requests"].get(key, 0.0)
        if d <= 0 or view in ("metrics", "healthz", "readyz"):
            continue
        entry = views.setdefault(view, {"requests": 0, "sql": 0, "redis": 0, "status": {}})
        entry["requests"] += d
        entry["status"][status] = entry["status"].get(status, 0) + d
    for kind in ("sql", "redis"):
        for view, v in after[kind].items():
            if view in views:
                views[view][kind] += v - before[kind].get(view, 0.0)
    return views


def scrape(stack: BenchStack) -> dict | None:
    from loadtest.probes import scrape as _scrape

    return _scrape(stack.url + "/metrics")


def run_variant(ctx: Context, scenario, variant, *, users: int, warmup: float, duration: float, sampler=None) -> dict:
    key = f"{scenario.name}.{variant.name}"
    spec = dict(variant.spec)
    spec.setdefault("label", key)
    manifest = {"host": ctx.url, "variants": {key: spec}}
    manifest_path = ctx.run_dir / f"manifest-{key}.json"
    manifest_path.write_text(json.dumps(manifest))
    out = ctx.run_dir / f"result-{key}.json"
    stack = ctx.stack
    # A variant served by the CDN stand-in: its CPU is that server's, and /metrics knows nothing.
    on_cdn = bool(ctx.cdn_url) and spec.get("host") == ctx.cdn_url
    web_pid = stack.procs["cdn" if on_cdn else "web"].pid
    on_lb = bool(stack.lb_url) and spec.get("host") == stack.lb_url
    cmd = [
        PY, "-m", "loadtest.drive", "--variant", key, "--users", str(users),
        "--warmup", str(warmup), "--duration", str(duration),
        "--metrics-url", stack.url + "/metrics",
        "--web-pids", str(web_pid),
        "--worker-pids", str(stack.procs["worker"].pid) if "worker" in stack.procs else "",
        "--store-pids", ",".join(str(p) for p in stack.store_pids()),
        "--redis-pids", ",".join(str(p) for p in stack.redis_pids()),
        "--pg-primary-pids", ",".join(str(p) for p in stack.pg_primary_pids()),
        "--lb-pids", str(stack.procs["lb"].pid) if on_lb else "",
        "--redis-url", stack.redis_url, "--pg-url", stack.primary_url,
        "--out", str(out),
    ]  # fmt: skip
    env = dict(os.environ, LOADTEST_MANIFEST=str(manifest_path))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    before_all = scrape(stack)
    samples: list = []
    stop = threading.Event()
    thread = None
    if sampler is not None:

        def sample_loop():
            from django.db import connections

            try:
                while not stop.is_set():
                    samples.append((time.time(), sampler()))
                    stop.wait(0.5)
            finally:
                connections.close_all()

        thread = threading.Thread(target=sample_loop, daemon=True)
        thread.start()
    log_path = ctx.run_dir / f"drive-{key}.log"
    with open(log_path, "w") as logf:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT, timeout=warmup + duration + 120
        )
    stop.set()
    if thread:
        thread.join(timeout=10)
    if proc.returncode != 0 or not out.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"locust driver failed for {key} (exit {proc.returncode}):\n{tail}")
    res = json.loads(out.read_text())
    res["scenario"] = scenario.name
    res["name"] = variant.name
    res["role"] = variant.role
    res["note"] = variant.note
    res["series"] = samples
    views = metrics_deltas(res.pop("metrics_before"), res.pop("metrics_after"))
    res["server_window"] = views
    res["server_all"] = metrics_deltas(before_all, scrape(stack))
    served = sum(v["requests"] for v in views.values())
    if on_cdn:
        served = res["requests"]
        res["server"] = stack.cdn_server
    res["server_requests"] = served
    if served:
        res["sql_per_req"] = None if on_cdn else sum(v["sql"] for v in views.values()) / served
        res["redis_per_req"] = None if on_cdn else sum(v["redis"] for v in views.values()) / served
        for k in ("web", "worker", "stores", "redis", "pg_primary", "lb", "loadgen"):
            if k in res["cpu_s"] and (k != "lb" or on_lb):
                res[f"{k}_cpu_ms_per_req"] = res["cpu_s"][k] * 1000 / served
        io = res.get("io") or {}
        res["redis_bytes_per_req"] = (
            (io["redis_in_bytes"] + io["redis_out_bytes"]) / served if "redis_in_bytes" in io else None
        )
        res["wal_bytes_per_req"] = io["wal_bytes"] / served if "wal_bytes" in io else None
    else:
        res["sql_per_req"] = res["redis_per_req"] = None
    res["error_rate"] = res["failures"] / res["requests"] if res["requests"] else None
    # CPU the rest of the machine used during the window (other people's work is noise here).
    window = res.get("window_s") or 0
    if window and res.get("box_busy_s") is not None:
        ours = sum(v for k, v in res["cpu_s"].items() if k != "redis")  # redis is part of stores
        res["other_cpu_share"] = max(0.0, res["box_busy_s"] - ours) / (window * (os.cpu_count() or 1))
        res["box_busy_share"] = res["box_busy_s"] / (window * (os.cpu_count() or 1))
    res["extra"] = {}
    return res


# ---------------------------------------------------------------- the run


def machine_info(stack: BenchStack | None) -> dict:
    import platform

    import psutil

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }
    if stack is not None:
        try:
            from django.db import connection

            with connection.cursor() as cur:
                cur.execute("SHOW server_version")
                info["postgresql"] = cur.fetchone()[0]
            import redis

            info["redis"] = redis.Redis.from_url(stack.redis_url).info("server")["redis_version"]
        except Exception as exc:  # noqa: BLE001 - informational only
            info["stores_error"] = str(exc)
        info["gunicorn_workers"] = stack.workers
        info["gunicorn_worker_class"] = "sync"
        info["cdn_server"] = stack.cdn_server
    return info


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scenario", default="all", help="all, or a comma list: bare,grab,signin,orders,flash,me,home")
    p.add_argument("--quick", action="store_true", help="CI smoke: seconds per variant, few users")
    p.add_argument("--ui", action="store_true", help="boot and seed, then the Locust web UI on 127.0.0.1:8089")
    p.add_argument("--users", type=int, help="concurrent Locust users (default 64; quick 8)")
    p.add_argument("--duration", type=float, help="measured seconds per variant (default 12; quick 2)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each window (default 3; quick 0.5)")
    p.add_argument("--bench-users", type=int, help="accounts with tokens (default 2000; quick 60)")
    p.add_argument("--workers", type=int, help="gunicorn sync workers (default: cores + 1, at least 3)")
    p.add_argument(
        "--validate-workers",
        default="",
        help="after the scenarios, bare-redis and the grab again with gunicorn at each of these worker counts "
        "(e.g. 1,2,3), then a grab backlog drained: what python -m loadtest.capacity --validate checks",
    )
    p.add_argument("--db-name", default="surge_bench", help="database created fresh for the run")
    p.add_argument("--redis-db", type=int, default=5, help="Redis database number, flushed at start")
    p.add_argument("--out", help="folder for <date>.json and .png (default loadtest/results; quick: the run folder)")
    p.add_argument("--profile", dest="profile", action="store_true", default=None, help="py-spy profiles")
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument(
        "--profile-variants",
        default="",
        help="comma list like grab.surge,me.cached (default: grab.surge and every Surge variant whose goal failed)",
    )
    p.add_argument("--write-md", action="store_true", default=None, help="update loadtest/RESULTS.md's table")
    p.add_argument("--wrk", dest="wrk", action="store_true", default=None, help="cross-check with wrk (if installed)")
    p.add_argument("--no-wrk", dest="wrk", action="store_false")
    p.add_argument("--ui-port", type=int, default=8089)
    args = p.parse_args(argv)
    q = args.quick
    args.users = args.users or (8 if q else 64)
    args.duration = args.duration or (2.0 if q else 12.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if q else 3.0)
    args.bench_users = args.bench_users or (60 if q else 2000)
    if args.profile is None:
        args.profile = bool(args.profile_variants) or (not q and not args.ui)
    if args.wrk is None:
        args.wrk = not q and not args.ui
    if args.write_md is None:
        args.write_md = not q and not args.ui and args.scenario == "all"
    return args


def select(names: str, registry: dict) -> list:
    if names == "all":
        return list(registry.values())
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in registry]
    if unknown:
        raise SystemExit(f"bench: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    if "bare" not in wanted:
        wanted.insert(0, "bare")
    return [registry[n] for n in wanted]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    run_dir = stack_dir() / "bench" / datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(run_dir=run_dir, db_name=args.db_name, redis_db=args.redis_db, workers=args.workers)
    started = time.monotonic()

    def terminated(signum, frame):
        # The servers run in their own sessions: stop them on the way out (finally below).
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)
    try:
        return _run(args, stack, stamp, started)
    finally:
        stack.stop()
        log(f"done in {time.monotonic() - started:.0f}s; logs in {run_dir}")


def _run(args, stack: BenchStack, stamp: str, started: float) -> int:
    log(f"stores up, fresh database {args.db_name}, Redis db {args.redis_db} (run folder {stack.run_dir})")
    stack.stores_up()
    stack.fresh_database()
    stack.apply_to_this_process()
    import django

    django.setup()
    from loadtest.scenarios import registry
    from loadtest.seed import create_users, warm_auth_caches

    scenarios = select(args.scenario, registry())
    users = create_users(args.bench_users)
    warm_auth_caches(users)
    ctx = Context(stack, users, args)
    stack.start_web()
    log(f"gunicorn up on {stack.url} ({stack.workers} sync workers)")
    if any(s.needs_worker for s in scenarios):
        stack.start_worker()
        log("celery worker (concurrency 2) and beat up")
    if any(s.needs_cdn for s in scenarios):
        stack.start_cdn()
        log(f"CDN stand-in: {stack.cdn_server} on {stack.cdn_url}")
    if any(s.needs_lb for s in scenarios):
        if stack.start_lb():
            log(f"load balancer: nginx (1 worker process) on {stack.lb_url} in front of gunicorn")
        else:
            log("nginx not installed: no variant through the load balancer")
    if args.ui:
        return run_ui(ctx, scenarios)

    results: list[dict] = []
    broken: list[str] = []
    for scenario in scenarios:
        for variant in scenario.variants(ctx):
            results.append(measure(ctx, scenario, variant, broken))
    if any(s.name == "bare" for s in scenarios) and not args.quick:
        # The same yardstick at the end: how much the box drifted during the run.
        bare = registry()["bare"]
        control = bare.variants(ctx)[0]
        control.name = "bare (end)"
        results.append(measure(ctx, bare, control, broken))

    report.add_ratios(results)
    goals = []
    by_scenario: dict[str, dict] = {}
    for r in results:
        by_scenario.setdefault(r["scenario"], {})[r["name"]] = r
    for scenario in scenarios:
        goals += scenario.goals(ctx, by_scenario.get(scenario.name, {}))
    from loadtest.scenarios import cpu_goals

    goals += cpu_goals(by_scenario)

    wrk_results: list[dict] = []
    if args.wrk:
        from loadtest import wrkcheck

        if not wrkcheck.wrk_path():
            log("wrk not installed (apt-get install wrk): no cross-check")
        elif any(s.name in ("bare", "grab") for s in scenarios):
            log(f"cross-check with wrk: 3 rounds of bare, bare-redis, grab; bare-auth, naive ({args.users} conns)")
            try:
                wrk_results = wrkcheck.cross_check(ctx, scenarios, duration=args.duration, connections=args.users)
            except Exception as exc:  # noqa: BLE001 - the Locust results stand on their own
                log(f"wrk cross-check failed: {exc}")
            for r in wrk_results:
                for b in r.get("invariants_broken", []):
                    broken.append(f"{r['scenario']}.{r['name']} (wrk): {b}")
            goals += wrk_goals(wrk_results)

    profiles = {}
    if args.profile:
        from loadtest import profile as prof

        profiles = prof.profile_variants(ctx, scenarios, results, goals, run_variant=run_variant)

    validation = None
    if args.validate_workers:
        from loadtest import validate

        counts = [int(x) for x in args.validate_workers.split(",") if x.strip()]
        validation = validate.run(ctx, scenarios, counts, measure=measure, run_variant=run_variant, broken=broken)

    doc = {
        "stamp": stamp,
        "command": "python -m loadtest.bench " + " ".join(sys.argv[1:] if sys.argv[1:] else []),
        "quick": args.quick,
        "config": {
            "users": args.users,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "bench_users": args.bench_users,
            "db_name": args.db_name,
            "redis_db": args.redis_db,
        },
        "machine": machine_info(stack),
        "results": results,
        "goals": [g.__dict__ for g in goals],
        "invariants_broken": broken,
        "wrk": wrk_results,
        "profiles": profiles,
        "validation": validation,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    out_dir = Path(args.out) if args.out else (stack.run_dir if args.quick else RESULTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str))
    png_path = out_dir / f"{stamp}.png"
    try:
        report.plot(doc, png_path)
    except Exception as exc:  # noqa: BLE001 - a missing plot must not hide the table
        log(f"plot failed: {exc}")
        png_path = None
    table = report.table(results)
    print()
    print(table)
    print()
    if wrk_results:
        print("Cross-check with wrk (the load generator off the critical path):")
        print(report.table(wrk_results))
        print()
    print(report.goals_text(doc["goals"]))
    if profiles:
        print(report.profiles_text(profiles))
    log(f"results: {json_path}" + (f", plot: {png_path}" if png_path else ""))
    if args.write_md:
        report.write_results_md(RESULTS_MD, doc, json_path, png_path)
        log(f"updated {RESULTS_MD}")
    if broken:
        print("\n" + "!" * 72, file=sys.stderr)
        print("INVARIANTS BROKEN (a fast wrong answer is a failure):", file=sys.stderr)
        for b in broken:
            print(f"  - {b}", file=sys.stderr)
        print("!" * 72, file=sys.stderr)
        return 1
    return 0


def _median_text(x: float, values: list[float]) -> str:
    return f"{x:.2f}x" if len(values) == 1 else f"{x:.2f}x (median of {', '.join(f'{v:.2f}' for v in values)})"


def wrk_goals(results: list[dict]) -> list:
    """The wrk goals. With paired windows (`surge #1`, ...) the grab's figures are medians over
    the windows: its ratio to the bare window before it, its req/s and its p99."""
    from loadtest.scenarios import Goal

    surges = [r for r in results if r["scenario"] == "grab" and r.get("role") == "surge" and r.get("rps")]
    naive = next((r for r in results if r["scenario"] == "grab" and r["name"] == "naive"), None)
    goals = []
    if not surges:
        return goals
    ratios = [r["x_bare"] for r in surges if r.get("x_bare")]
    if ratios:
        x = statistics.median(ratios)
        shown = _median_text(x, ratios)
        # Retired as a goal (issue 23): on two shared cores the one-round-trip floor itself is ~0.73x.
        goals.append(Goal("grab", "(wrk, for reference) grab vs bare Django view", "-", shown, None))
    floors = [r for r in results if r["name"].split(" #")[0] == "bare-redis" and r.get("x_bare")]
    if floors:
        x = statistics.median(r["x_bare"] for r in floors)
        goals.append(Goal("grab", "(wrk, for reference) one-round-trip view (bare-redis) vs bare view", "-",
                          _median_text(x, [r["x_bare"] for r in floors]), None))  # fmt: skip
    over_floor = [r["x_floor"] for r in surges if r.get("x_floor")]
    if over_floor:
        x = statistics.median(over_floor)
        goals.append(Goal("grab", "(wrk, for reference) grab vs the one-round-trip view", "-",
                          _median_text(x, over_floor), None))  # fmt: skip
    rps = statistics.median(r["rps"] for r in surges)
    if naive and naive.get("rps"):
        x = rps / naive["rps"]
        goals.append(Goal("grab", "(wrk, for reference) grab vs select_for_update baseline, req/s", "-", f"{x:.2f}x",
                          None))  # fmt: skip
        p99s = [r["p99_ms"] for r in surges if r.get("p99_ms")]
        if p99s and naive.get("p99_ms"):
            p99 = statistics.median(p99s)
            pr = p99 / naive["p99_ms"]
            goals.append(
                Goal("grab", f"(wrk) grab p99 vs baseline p99 at {surges[0]['users']} connections", "<= 0.25x",
                     f"{p99:.0f} / {naive['p99_ms']:.0f} ms = {pr:.2f}x", pr <= 0.25)
            )  # fmt: skip
    return goals


def measure(ctx: Context, scenario, variant, broken: list[str]) -> dict:
    key = f"{scenario.name}.{variant.name}"
    missing = [p for p in variant.needs if not ctx.resolves(p)]
    base = {"scenario": scenario.name, "name": variant.name, "role": variant.role, "note": variant.note}
    if missing:
        log(f"{key}: skipped, not built yet: {', '.join(missing)}")
        return {**base, "skipped": f"not built yet: {', '.join(missing)}"}
    try:
        scenario.before(ctx, variant)
    except SkipVariant as exc:
        log(f"{key}: skipped: {exc}")
        return {**base, "skipped": str(exc)}
    if variant.spec.get("prime"):
        prime(ctx, variant.spec)
    users = variant.users or ctx.args.users
    log(f"{key}: {users} users, {ctx.args.warmup:g}s warm-up + {ctx.args.duration:g}s")
    sampler = getattr(scenario, "sampler", None)
    res = run_variant(
        ctx,
        scenario,
        variant,
        users=users,
        warmup=ctx.args.warmup,
        duration=ctx.args.duration,
        sampler=sampler(ctx, variant) if sampler else None,
    )
    failures = scenario.after(ctx, variant, res)
    res["invariants_broken"] = failures
    for f in failures:
        broken.append(f"{key}: {f}")
        log(f"{key}: INVARIANT BROKEN: {f}")
    log(
        f"{key}: {res['rps']:.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, "
        f"errors {res['failures']}, statuses {res['status_window']}"
    )
    return res


def prime(ctx: Context, spec: dict) -> None:
    """One request per token to the first target before the load starts: a cached read is
    measured on a warm cache (the warm-up alone may not reach every user of the pool)."""
    from concurrent.futures import ThreadPoolExecutor

    target = spec["targets"][0]
    base = spec.get("host") or ctx.url

    def one(token):
        return ctx.http(spec.get("method", "GET"), target, token=token, base=base)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, spec.get("tokens") or [None]))
    bad = [s for s in statuses if s != 200]
    if bad:
        log(f"priming {target}: {len(bad)} of {len(statuses)} answers were not 200 (first: {bad[0]})")


def run_ui(ctx: Context, scenarios) -> int:
    """Seed every variant, write one manifest with all of them, and hand over to Locust's UI."""
    variants = {}
    for scenario in scenarios:
        for variant in scenario.variants(ctx):
            if any(not ctx.resolves(p) for p in variant.needs):
                continue
            try:
                scenario.before(ctx, variant)
            except SkipVariant:
                continue
            spec = dict(variant.spec)
            spec.setdefault("label", f"{scenario.name}.{variant.name}")
            variants[f"{scenario.name}.{variant.name}"] = spec
    manifest = ctx.run_dir / "manifest-ui.json"
    manifest.write_text(json.dumps({"host": ctx.url, "variants": variants}))
    port = ctx.args.ui_port
    log(f"Locust web UI on http://127.0.0.1:{port} (target {ctx.url}); pick a variant class; Ctrl-C stops")
    env = dict(os.environ, LOADTEST_MANIFEST=str(manifest))
    cmd = [
        PY, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), "--host", ctx.url,
        "--web-host", "127.0.0.1", "--web-port", str(port), "--class-picker",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
