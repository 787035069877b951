"""A cross-check with `wrk` (C, keeps almost no CPU for itself) for the variants the goals
hinge on: bare, bare-auth, grab surge and grab naive. Locust shares the two cores with the
server and compresses every ratio toward 1; wrk shows what the server does when the load
generator costs little. Optional: skipped (and said so) when wrk is not installed
(`apt-get install wrk`).

Same request order as the Locust runs (`pairs`: each user once per packet, packet after
packet; the counter is striped over wrk's threads), same invariant checks afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time

from loadtest.probes import cpu_delta, cpu_snapshot, expand, scrape

LUA = r"""
local spec = %(spec)s
local tokens = spec.tokens
local targets = spec.targets
local n_tokens = #tokens
local threads = {}
local n_threads = 0

function setup(thread)
  thread:set("tid", n_threads)
  n_threads = n_threads + 1
  table.insert(threads, thread)
end

function init(args)
  stride = tonumber(args[1])
  counter = tid
  c2xx, c409, c410, cother = 0, 0, 0, 0
end

function request()
  local i = counter
  counter = counter + stride
  local headers = {["Accept"] = "application/json"}
  if n_tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(i %% n_tokens) + 1]
  end
  local path
  if spec.pairs and n_tokens > 0 then
    path = targets[(math.floor(i / n_tokens) %% #targets) + 1]
  else
    path = targets[(i %% #targets) + 1]
  end
  return wrk.format(spec.method, path, headers, nil)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then c2xx = c2xx + 1
  elseif status == 409 then c409 = c409 + 1
  elseif status == 410 then c410 = c410 + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local a, b, c, d = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("c2xx"); b = b + t:get("c409"); c = c + t:get("c410"); d = d + t:get("cother")
  end
  io.write(string.format("BENCH codes 2xx=%%d 409=%%d 410=%%d other=%%d\n", a, b, c, d))
  io.write(string.format("BENCH p50_us=%%d p99_us=%%d requests=%%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_table(spec: dict) -> str:
    def s(x: str) -> str:
        return json.dumps(x)  # a JSON string is a valid Lua string literal for these characters

    tokens = ", ".join(s(t) for t in (spec.get("tokens") or []))
    targets = ", ".join(s(t) for t in spec["targets"])
    return (
        f"{{method = {s(spec.get('method', 'GET'))}, pairs = {'true' if spec.get('order') == 'pairs' else 'false'}, "
        f"tokens = {{{tokens}}}, targets = {{{targets}}}}}"
    )


def run(ctx, scenario, variant, *, connections: int, duration: float, threads: int = 2, sampler=None) -> dict:
    key = f"{scenario.name}.{variant.name}"
    script = ctx.run_dir / f"wrk-{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}.lua"
    script.write_text(LUA % {"spec": _lua_table(variant.spec)})
    stack = ctx.stack
    web, worker, stores = [stack.procs["web"].pid], stack.worker_pids()[:1], stack.store_pids()
    groups = (("web", web), ("worker", worker), ("stores", stores), ("redis", stack.redis_pids()))
    samples: list = []
    stop = threading.Event()
    thread = None
    if sampler is not None:

        def loop():
            from django.db import connections as conns

            try:
                while not stop.is_set():
                    samples.append((time.time(), sampler()))
                    stop.wait(0.5)
            finally:
                conns.close_all()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
    m0 = scrape(stack.url + "/metrics")
    c0 = {k: cpu_snapshot(expand(p)) for k, p in groups}
    t0, wall0 = time.monotonic(), time.time()
    cmd = [
        wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{int(duration)}s", "--latency",
        "--timeout", "10s", "-s", str(script), stack.url, "--", str(threads),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    t1, wall1 = time.monotonic(), time.time()
    c1 = {k: cpu_snapshot(expand(p)) for k, p in groups}
    # wrk stops without waiting for the answers in flight; the server finishes them (a grab
    # may be written): let them land before reading the server's counters.
    time.sleep(1.0)
    m1 = scrape(stack.url + "/metrics")
    stop.set()
    if thread:
        thread.join(timeout=10)
    (ctx.run_dir / f"wrk-{key}.out").write_text(proc.stdout + proc.stderr)
    codes = re.search(r"BENCH codes 2xx=(\d+) 409=(\d+) 410=(\d+) other=(\d+)", proc.stdout)
    lat = re.search(r"BENCH p50_us=(\d+) p99_us=(\d+) requests=(\d+)", proc.stdout)
    if proc.returncode != 0 or not codes or not lat:
        raise RuntimeError(f"wrk failed for {key}: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    ok, c409, c410, other = (int(x) for x in codes.groups())
    window = t1 - t0
    requests = int(lat.group(3))
    ok_code = str(variant.spec.get("expect", [200])[0])
    from loadtest.bench import metrics_deltas

    views = metrics_deltas(m0, m1)
    served = sum(v["requests"] for v in views.values()) or requests
    cpu = {k: cpu_delta(c0[k], c1[k]) for k in c0}
    expected_other = {409, 410} - set(variant.spec.get("expect", [200]))
    failures = other + sum(n for code, n in ((409, c409), (410, c410)) if code in expected_other)
    return {
        "scenario": scenario.name,
        "name": variant.name,
        "role": variant.role,
        "tool": "wrk",
        "users": connections,
        "window_s": window,
        "requests": requests,
        "failures": failures,
        "rps": requests / window if window else 0.0,
        "p50_ms": int(lat.group(1)) / 1000,
        "p99_ms": int(lat.group(2)) / 1000,
        "status_all": {ok_code: ok, "409": c409, "410": c410, "other": other},
        "status_window": {ok_code: ok, "409": c409, "410": c410, "other": other},
        "started_wall": wall0,
        "ended_wall": wall1,
        "window_start_wall": wall0,
        "window_end_wall": wall1,
        "series": samples,
        "server_window": views,
        "server_all": views,
        "server_requests": served,
        "cpu_s": cpu,
        "sql_per_req": sum(v["sql"] for v in views.values()) / served,
        "redis_per_req": sum(v["redis"] for v in views.values()) / served,
        **{f"{k}_cpu_ms_per_req": v * 1000 / served for k, v in cpu.items()},
        "error_rate": failures / requests if requests else None,
        "extra": {},
    }


def cross_check(ctx, scenarios, *, duration: float, connections: int, rounds: int = 3, pair_duration: float = 8.0):
    """wrk runs: `rounds` rounds of the bare view, the one-round-trip view (bare-redis) and the
    grab (fresh packets each time, invariants after each), then bare-auth and the naive grab.
    Each grab window is compared with the bare window of its round, and the goal reads the
    median of those paired ratios: one window on this shared VM moves by 20% and more within
    minutes, so a single grab window between two bare ones measured the drift as much as the
    grab."""
    out: list[dict] = []
    by_name = {s.name: s for s in scenarios}
    plan = []
    for i in range(1, rounds + 1):
        plan += [
            ("bare", "bare", f"bare #{i}", pair_duration),
            ("bare", "bare-redis", f"bare-redis #{i}", pair_duration),
            ("grab", "surge", f"surge #{i}", pair_duration),
        ]
    plan += [("bare", "bare-auth", "bare-auth", duration), ("grab", "naive", "naive", duration)]
    for sname, vname, label, seconds in plan:
        scenario = by_name.get(sname)
        if scenario is None:
            continue
        variant = next((v for v in scenario.variants(ctx) if v.name == vname), None)
        if variant is None or any(not ctx.resolves(p) for p in variant.needs):
            continue
        variant.name = label
        scenario.before(ctx, variant)
        sampler = getattr(scenario, "sampler", None)
        res = run(
            ctx,
            scenario,
            variant,
            connections=connections,
            duration=seconds,
            sampler=sampler(ctx, variant) if sampler else None,
        )
        res["invariants_broken"] = scenario.after(ctx, variant, res)
        out.append(res)
    from loadtest.report import add_paired_ratios, add_ratios

    add_ratios(out)
    add_paired_ratios(out)
    return out
