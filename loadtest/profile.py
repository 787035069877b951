"""py-spy profiles of the gunicorn workers while a variant runs, summarised by package and by
function, so a missed goal comes with where the time goes.

Profiles run after the measured scenarios (a sampler attached during the measurements would
cost the server a few percent and bias the comparison). py-spy samples every worker
(`--subprocesses`) in `--nonblocking` mode; the raw collapsed stacks are kept in the run
folder (`profile-<variant>.txt`, loadable by speedscope or flamegraph.pl).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from loadtest.stack import log

RATE = 200


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


SURGE_APPS = ("project", "usercenter", "signin", "orders", "redpackets", "staticgen", "loadtest")
PACKAGES = {
    "django": "django (request, middleware, urls, response)",
    "psycopg2": "psycopg2 (PostgreSQL driver)",
    "psycopg": "psycopg (PostgreSQL driver)",
    "redis": "redis-py + hiredis (Redis client)",
    "hiredis": "redis-py + hiredis (Redis client)",
    "django_redis": "django-redis",
    "gunicorn": "gunicorn (accept, parse, write)",
    "rest_framework": "DRF",
    "prometheus_client": "prometheus_client (metrics)",
}


def _path(frame: str) -> str:
    """'func (path/to/file.py:12)' -> 'path/to/file.py' (py-spy shortens paths to sys.path)."""
    return frame.rsplit("(", 1)[-1].rstrip(")").rsplit(":", 1)[0]


def _package(frame: str) -> str:
    path = _path(frame).lstrip("/")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    top = path.split("/", 1)[0]
    if top == "django" and path.startswith("django/db/"):
        return "django ORM / db backend"
    if top in PACKAGES:
        return PACKAGES[top]
    if top in SURGE_APPS:
        return f"surge: {top}"
    if top.endswith(".py"):
        top = top[:-3]
    return f"python: {top}"


GENERIC = (
    "gunicorn/",
    "<frozen runpy>",
    "convert_exception_to_response",
    "BaseHandler.get_response ",
    "MiddlewareMixin.__call__",
)


def summarize(raw: Path) -> dict:
    leaf = Counter()
    leaf_fn = Counter()
    inclusive = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        # py-spy prefixes the process ("process 123:\"...\""): drop non-frame entries.
        frames = [f for f in frames if "(" in f and f.endswith(")") and not f.startswith("process ")]
        if not frames:
            continue
        total += n
        leaf[_package(frames[-1])] += n
        leaf_fn[frames[-1].rsplit(":", 1)[0] + ")"] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        return {"samples": 0, "by_package": [], "inclusive": [], "self": []}
    # Inclusive shares of the frames that say something: the request handling below gunicorn
    # (middleware, views, services, clients), without the generic wrappers every request has.
    interesting = [(name, n / total) for name, n in inclusive.most_common(200) if not any(g in name for g in GENERIC)]
    return {
        "samples": total,
        "by_package": [(k, v / total) for k, v in leaf.most_common(12)],
        "inclusive": interesting[:20],
        "self": [(k, v / total) for k, v in leaf_fn.most_common(10)],
    }


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    exe = py_spy()
    if not exe:
        return None
    cmd = [
        exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", str(RATE),
        "--duration", str(int(seconds)), "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile_variants(ctx, scenarios, results, goals, *, run_variant) -> dict:
    """Profile the grab (the flagship) and every Surge variant whose goal was missed."""
    if not py_spy():
        return {"_": {"error": "py-spy not installed"}}
    wanted: list[tuple] = []
    missed = {g.scenario for g in goals if g.met is False}
    explicit = [x.strip() for x in ctx.args.profile_variants.split(",") if x.strip()]
    for scenario in scenarios:
        if explicit:
            wanted += [(scenario, v) for v in scenario.variants(ctx) if f"{scenario.name}.{v.name}" in explicit]
            continue
        if scenario.name == "bare":
            continue
        if scenario.name != "grab" and scenario.name not in missed:
            continue
        for variant in scenario.variants(ctx):
            if variant.role != "surge":
                continue
            r = next((x for x in results if x["scenario"] == scenario.name and x["name"] == variant.name), None)
            if r is None or r.get("skipped"):
                continue
            wanted.append((scenario, variant))
    wanted = wanted[:3]  # the 10-minute budget of `make bench`
    out = {}
    for scenario, variant in wanted:
        key = f"{scenario.name}.{variant.name}"
        raw = ctx.run_dir / f"profile-{key}.txt"
        seconds = 6 if not ctx.quick else 2
        log(f"{key}: profiling the gunicorn workers with py-spy for {seconds}s")
        try:
            scenario.before(ctx, variant)
            proc_holder: dict = {}

            def start_later(proc_holder=proc_holder, raw=raw, seconds=seconds):
                proc_holder["p"] = record(ctx.stack.procs["web"].pid, seconds, raw)

            # Start sampling after the warm-up so the profile shows the steady state.
            timer = threading.Timer(1.5, start_later)
            timer.start()
            res = run_variant(ctx, scenario, variant, users=ctx.args.users, warmup=1.0, duration=seconds + 2)
            timer.join()
            proc = proc_holder.get("p")
            if proc is not None:
                _, err = proc.communicate(timeout=30)
                if proc.returncode != 0 and not raw.exists():
                    out[key] = {"error": f"py-spy failed: {err.decode(errors='replace')[-300:]}"}
                    continue
            broken = scenario.after(ctx, variant, res)
            summary = summarize(raw)
            summary["rate"] = RATE
            summary["raw"] = str(raw)
            summary["rps_while_profiled"] = res.get("rps")
            summary["invariants_broken"] = broken
            out[key] = summary
        except Exception as exc:  # noqa: BLE001 - a failed profile must not lose the results
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
