"""Measure one variant: Locust (Python API, FastHttpUser) for warm-up + a fixed window, with the
server's own counters snapshotted at the window's edges.

    LOADTEST_MANIFEST=m.json python -m loadtest.drive --variant grab.surge --users 64 --warmup 3 \
        --duration 15 --metrics-url http://127.0.0.1:P/metrics --web-pids 1,2,3 --out r.json

Run as its own process (Locust monkey-patches the standard library with gevent). Writes JSON:
Locust's requests, failures, percentiles; status codes (window and whole run); the server's
request, SQL and Redis counters per view from /metrics; CPU seconds of the web server, the
Celery worker, the stores and this load generator over the window.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time

import gevent
import psutil
from locust import events
from locust.env import Environment

from loadtest import locustfile
from loadtest.probes import cpu_delta, cpu_snapshot, expand, scrape


def _busy(t) -> float:
    """Machine-wide CPU seconds not idle (all cores)."""
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


CPU_GROUPS = ("web", "worker", "stores", "redis", "pg_primary", "lb", "loadgen")


class StoresIO:
    """Byte counters of the stores at a window's edge: Redis's network in/out (INFO stats) and
    the primary's WAL position (what the replication stream carries to every replica)."""

    def __init__(self, redis_url: str, pg_url: str):
        self.redis = self.pg = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)
        if pg_url:
            import psycopg2

            self.pg = psycopg2.connect(pg_url, connect_timeout=5)
            self.pg.autocommit = True

    def read(self) -> dict:
        out: dict = {}
        if self.redis is not None:
            st = self.redis.info("stats")
            out["redis_in_bytes"] = st["total_net_input_bytes"]
            out["redis_out_bytes"] = st["total_net_output_bytes"]
            out["redis_commands"] = st["total_commands_processed"]
        if self.pg is not None:
            with self.pg.cursor() as cur:
                cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
                out["wal_bytes"] = int(cur.fetchone()[0])
        return out


def rss_mb(pids: list[int]) -> dict | None:
    """Resident memory of a tier's processes: the largest one and the sum (the sum counts pages
    shared after fork once per process, so it is an upper bound)."""
    sizes = []
    for pid in pids:
        try:
            sizes.append(psutil.Process(pid).memory_info().rss / 2**20)
        except psutil.Error:
            continue
    if not sizes:
        return None
    return {"processes": len(sizes), "max": round(max(sizes), 1), "sum": round(sum(sizes), 1)}


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", required=True)
    p.add_argument("--users", type=int, default=64)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--metrics-url", default="")
    p.add_argument("--web-pids", default="", help="gunicorn master pid (workers are found from it)")
    p.add_argument("--worker-pids", default="", help="celery worker master pid")
    p.add_argument("--store-pids", default="", help="postgres / redis root pids")
    p.add_argument("--redis-pids", default="", help="redis pid (a part of the stores)")
    p.add_argument("--pg-primary-pids", default="", help="PostgreSQL primary postmaster pid (a part of the stores)")
    p.add_argument("--lb-pids", default="", help="nginx master pid when the variant goes through the load balancer")
    p.add_argument("--redis-url", default="", help="Redis to read INFO's network byte counters from")
    p.add_argument("--pg-url", default="", help="PostgreSQL primary to read the WAL position from")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    classes = locustfile.CLASSES
    cls_name = args.variant.replace(".", "_").replace("-", "_")
    if cls_name not in classes:
        print(f"drive: no variant {args.variant!r} in the manifest", file=sys.stderr)
        return 2
    user_cls = classes[cls_name]
    web, worker, stores = _ints(args.web_pids), _ints(args.worker_pids), _ints(args.store_pids)
    redis_pids = _ints(args.redis_pids)
    pg_primary, lb = _ints(args.pg_primary_pids), _ints(args.lb_pids)
    stores_io = StoresIO(args.redis_url, args.pg_url)

    # stop_timeout: users finish the request in flight when the window closes, so every answer
    # the server gave is seen (the invariant checks compare 200s with database rows).
    env = Environment(user_classes=[user_cls], events=events, host=user_cls.host, stop_timeout=15)
    runner = env.create_local_runner()
    # The generator's own full collections would stall every request in flight and show up as
    # server latency: keep Locust's startup objects out of them (the server does the same).
    gc.freeze()
    started_wall = time.time()
    runner.start(args.users, spawn_rate=max(args.users, 1))
    gevent.sleep(args.warmup)

    def snapshot():
        return {
            "t": time.monotonic(),
            "wall": time.time(),
            "metrics": scrape(args.metrics_url) if args.metrics_url else None,
            "web": cpu_snapshot(expand(web)),
            "worker": cpu_snapshot(expand(worker)),
            "stores": cpu_snapshot(expand(stores)),
            "redis": cpu_snapshot(redis_pids),
            "pg_primary": cpu_snapshot(expand(pg_primary)),
            "lb": cpu_snapshot(expand(lb)),
            "io": stores_io.read(),
            "loadgen": cpu_snapshot([psutil.Process().pid], with_children=False),
            "box": psutil.cpu_times(),
        }

    env.stats.reset_all()
    locustfile.reset_window()
    s0 = snapshot()
    gevent.sleep(args.duration)
    s1 = snapshot()
    total = env.stats.total
    window = s1["t"] - s0["t"]
    result = {
        "variant": args.variant,
        "users": args.users,
        "warmup_s": args.warmup,
        "window_s": window,
        "started_wall": started_wall,
        "window_start_wall": s0["wall"],
        "window_end_wall": s1["wall"],
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": total.num_requests / window if window > 0 else 0.0,
        "p50_ms": total.get_response_time_percentile(0.5) if total.num_requests else None,
        "p90_ms": total.get_response_time_percentile(0.9) if total.num_requests else None,
        "p99_ms": total.get_response_time_percentile(0.99) if total.num_requests else None,
        "max_ms": total.max_response_time if total.num_requests else None,
        "avg_ms": total.avg_response_time if total.num_requests else None,
        "errors": [{"error": str(e.error)[:200], "count": e.occurrences} for e in env.stats.errors.values()][:10],
        "status_window": dict(locustfile.STATUS_WINDOW.get(args.variant, {})),
        "cpu_s": {k: cpu_delta(s0[k], s1[k]) for k in CPU_GROUPS},
        "io": {k: s1["io"][k] - s0["io"][k] for k in s1["io"] if k in s0["io"]},
        "rss_mb": {"web": rss_mb(expand(web)), "worker": rss_mb(expand(worker)), "lb": rss_mb(expand(lb))},
        "avg_body_bytes": total.avg_content_length if total.num_requests else None,
        "box_busy_s": _busy(s1["box"]) - _busy(s0["box"]),
        "metrics_before": s0["metrics"],
        "metrics_after": s1["metrics"],
    }
    runner.stop()
    runner.quit()
    # Requests still in flight at quit() may have finished since: count them for invariants.
    result["status_all"] = {str(k): v for k, v in locustfile.STATUS_ALL.get(args.variant, {}).items()}
    result["status_window"] = {str(k): v for k, v in result["status_window"].items()}
    result["ended_wall"] = time.time()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
