"""Sale-day sizing from measured costs: how many cores, Redis shards and how much Redis memory
for N grabs a second, from the CPU per request each tier spent in one bench run.

    python -m loadtest.capacity                          # the newest loadtest/results/<stamp>.json
    python -m loadtest.capacity RESULTS.json --rate 1000 --rate 50000
    python -m loadtest.capacity --mix flash=20000,signin=5000,orders=40000,login=200
    python -m loadtest.capacity --users 10000000 --json  # memory for 10 million users, as JSON
    python -m loadtest.capacity --validate               # predicted vs measured (bench --validate-workers)

The model: a request of kind K costs, per tier (web = gunicorn, worker = the Celery queue drain,
pg = the PostgreSQL primary, redis, lb = nginx), the CPU ms measured for K's Surge variant in the
run, divided by the requests the server counted. Cores per tier = sum over kinds of rate x ms /
1000 / utilisation (plan at 70% busy by default). Web, lb and worker scale out; Redis scales out by
shards but every key of one red packet or one flash product shares a hash slot, so one hot packet
is capped by one shard; the primary is one machine; the drain runs under one lease (one drain at a
time in the whole cluster), so its rows/s are capped by one consumer. Memory comes from
`python -m loadtest.memory` (bytes per key kind on real keys) when its JSON exists.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "loadtest" / "results"
MEMORY_JSON = RESULTS_DIR / "memory.json"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{4}\.json$")

# Request kinds of the model: the bench variant whose figures they take.
KINDS = {
    "grab": ("grab", "surge"),
    "flash": ("flash", "surge"),
    "signin": ("signin", "surge"),
    "orders": ("orders", "p1-cached"),
    "me": ("me", "cached"),
    "home": ("home", "l1+l2"),
    "login": ("login", "rush"),
}
# Row writes per request that writes (from the handlers): a grab is a Grab row, a ledger entry
# and a wallet update; a flash buy an order row (the stock update is one per product per batch);
# a day's first sign-in a SignIn row, a ledger entry and a wallet update; a log-in a token row.
ROWS_PER_WRITE = {"grab": 3, "flash": 1, "signin": 3, "login": 1}
# Answers that write: a grab that won (200), a buy that was queued (202), a log-in (200).
WRITING_STATUS = {"grab": ("200",), "flash": ("202",), "login": ("200",)}
# Kinds whose rows the queue drain writes (their primary CPU in the window is the drain's).
DRAINED = ("grab", "flash")
TIERS = ("web", "lb", "worker", "pg", "redis")
TIER_NAMES = {
    "web": "web (gunicorn)",
    "lb": "load balancer (nginx)",
    "worker": "queue drain (Celery)",
    "pg": "PostgreSQL primary",
    "redis": "Redis",
}
UTILISATION = 0.7  # plan every tier at 70% busy: a storm's burst and a failover need the rest
PG_MAX_CORES = 64  # the largest primary a team would run; past it the writes must be split
# HTTP framing Locust's content length does not count (status line, headers; request with a
# bearer token): an estimate, said so wherever it is used.
RESPONSE_HEADER_BYTES = 250
REQUEST_BYTES = 350
# A sale's peak second besides the grabs (rates per second; page reads split over three views).
SALE_DAY_MIX = {"flash": 10_000, "signin": 2_000, "orders": 10_000, "me": 10_000, "home": 10_000, "login": 100}
DEFAULT_RATES = (1_000, 10_000, 100_000)


# ---------------------------------------------------------------- measured costs


def latest_results(folder: Path = RESULTS_DIR) -> Path | None:
    files = sorted(p for p in folder.glob("*.json") if STAMP.match(p.name))
    return files[-1] if files else None


def _find(doc: dict, scenario: str, name: str) -> dict | None:
    for r in doc.get("results", []):
        if r.get("scenario") == scenario and r.get("name") == name and not r.get("skipped") and r.get("rps"):
            return r
    return None


def _per_req(r: dict, key: str) -> float:
    served = r.get("server_requests") or r.get("requests") or 0
    return (r.get("cpu_s", {}).get(key) or 0.0) * 1000 / served if served else 0.0


def pg_ms(r: dict) -> float:
    """The primary's CPU per request; results from before it was read apart: stores - redis."""
    cpu = r.get("cpu_s", {})
    if cpu.get("pg_primary") is not None:
        return _per_req(r, "pg_primary")
    return max(0.0, _per_req(r, "stores") - _per_req(r, "redis"))


def kind_cost(doc: dict, kind: str) -> dict | None:
    """Per request of this kind: CPU ms per tier, bytes on the wire, Redis traffic, WAL bytes,
    row writes. None when the run has no usable window for it."""
    scenario, name = KINDS[kind]
    r = _find(doc, scenario, name)
    if r is None:
        return None
    served = r.get("server_requests") or r.get("requests")
    status = r.get("status_all") or r.get("status_window") or {}
    answered = sum(status.values()) or 1
    writing = sum(status.get(s, 0) for s in WRITING_STATUS.get(kind, ()))
    write_share = writing / answered if kind in WRITING_STATUS else 0.0
    extra = r.get("extra") or {}
    if kind == "signin":
        rows = extra.get("sign-in rows") or 0
        write_share = rows / (r.get("requests") or 1) if rows else 0.0
    io = r.get("io") or {}
    body = r.get("avg_body_bytes")
    return {
        "kind": kind,
        "variant": f"{scenario}.{name}",
        "web": r.get("web_cpu_ms_per_req") or _per_req(r, "web"),
        # The worker's CPU in a window of a kind it does no work for is beat's ticks and idle
        # polls, a fixed cost per second, not per request: only the drained kinds carry it.
        "worker": (r.get("worker_cpu_ms_per_req") or 0.0) if kind in DRAINED else 0.0,
        "pg": pg_ms(r),
        "redis": r.get("redis_cpu_ms_per_req") or _per_req(r, "redis"),
        "lb": 0.0,  # set by costs() from the run's nginx window
        "rows": ROWS_PER_WRITE.get(kind, 0) * write_share,
        "write_share": write_share,
        "body_bytes": body,
        "redis_net_bytes": (io.get("redis_in_bytes", 0) + io.get("redis_out_bytes", 0)) / served if io else None,
        "wal_bytes": io["wal_bytes"] / served if io.get("wal_bytes") is not None and served else None,
    }


def lb_ms(doc: dict) -> float | None:
    """nginx's CPU per request, from the grab through the load balancer (the proxying cost does
    not depend on the view)."""
    r = _find(doc, "grab", "surge-nginx")
    if r is None:
        return None
    return r.get("lb_cpu_ms_per_req") or _per_req(r, "lb") or None


def drain_ms_per_row(doc: dict) -> float | None:
    """The drain's CPU (worker + primary) per grab row persisted in the grab window: what one
    consumer spends per row, so its ceiling is 1000 / this rows/s."""
    from loadtest.scenarios import drain_ms_per_row as per_row

    r = _find(doc, "grab", "surge")
    return per_row(r) if r else None


def measured_drain(doc: dict) -> float | None:
    """Rows/s one drain persisted from a backlog in the run's validation (first batch to last
    row when recorded, else from the worker's start)."""
    d = (doc.get("validation") or {}).get("drain") or {}
    return d.get("rows_per_s_running") or d.get("rows_per_s")


def costs(doc: dict) -> dict[str, dict]:
    out = {}
    lb = lb_ms(doc) or 0.0
    for kind in KINDS:
        c = kind_cost(doc, kind)
        if c is not None:
            c["lb"] = lb
            out[kind] = c
    return out


# ---------------------------------------------------------------- the model


def cores(rate: float, ms: float, utilisation: float = UTILISATION) -> float:
    return rate * ms / 1000 / utilisation


def plan(
    c: dict[str, dict],
    mix: dict[str, float],
    *,
    utilisation: float = UTILISATION,
    pg_max_cores: int = PG_MAX_CORES,
    hot: str | None = "grab",
    drain_events_per_s: float | None = None,
) -> dict:
    """Cores per tier, Redis shards, the primary's write rate, network, and the tier that runs out
    first, for a mix of request rates {kind: per second}. `hot`: the kind whose requests all
    go to one packet/product (one hash slot), or None. `drain_events_per_s`: what one drain was
    measured to persist from a backlog (bench --validate-workers); the lower ceiling wins."""
    missing = [k for k in mix if k not in c]
    if missing:
        raise ValueError(f"no measured cost for {', '.join(missing)} in these results")
    need = {t: sum(cores(rate, c[k][t], utilisation) for k, rate in mix.items()) for t in TIERS}
    rows = sum(rate * c[k]["rows"] for k, rate in mix.items())
    redis_ms = sum(rate * c[k]["redis"] for k, rate in mix.items())
    shards = max(1, math.ceil(redis_ms / 1000 / utilisation))
    estimated = [k for k in mix if c[k]["body_bytes"] is None]
    out_bytes = sum(rate * ((c[k]["body_bytes"] or 0) + RESPONSE_HEADER_BYTES) for k, rate in mix.items())
    in_bytes = sum(rate * REQUEST_BYTES for rate in mix.values())
    redis_net = sum(rate * (c[k]["redis_net_bytes"] or 0) for k, rate in mix.items())
    wal = sum(rate * (c[k]["wal_bytes"] or 0) for k, rate in mix.items())
    # Ceilings: how far this mix can grow (x its rates) before a tier that cannot scale out is full.
    limits = {}
    if need["pg"] > 0:
        limits["pg"] = (pg_max_cores * utilisation * 1000 / sum(r * c[k]["pg"] for k, r in mix.items()),
                        f"one primary of {pg_max_cores} cores")  # fmt: skip
    # One drain at a time in the whole cluster (the lease): the consumer's CPU and the primary's
    # work for the drained rows run in series, so one second of them per second is the ceiling.
    drain_ms = sum(rate * (c[k]["worker"] + (c[k]["pg"] if k in DRAINED else 0.0)) for k, rate in mix.items())
    if drain_ms:
        limits["worker"] = (1000 / drain_ms, "one drain at a time (the lease), from its CPU")
    events = sum(rate * c[k]["write_share"] for k, rate in mix.items() if k in DRAINED)
    if drain_events_per_s and events and drain_events_per_s / events < limits.get("worker", (math.inf,))[0]:
        # A drain is not CPU bound alone: batches wait on commits and round trips. The measured
        # backlog rate (grab events; flash events taken as costing the same) is the ceiling.
        limits["worker"] = (drain_events_per_s / events, f"one drain, measured {drain_events_per_s:,.0f} events/s")
    hot_ceiling = None
    if hot and hot in mix and c[hot]["redis"]:
        hot_ceiling = 1000 / c[hot]["redis"]  # one shard, 100% busy, every request on one slot
        what = "packet" if hot == "grab" else "product"
        limits["redis"] = (hot_ceiling / mix[hot], f"one hot {what} on one shard: {hot_ceiling:,.0f} {hot}/s")
    first = min(limits.items(), key=lambda kv: kv[1][0]) if limits else None
    return {
        "mix": dict(mix),
        "cores": need,
        "cores_total": sum(need.values()),
        "redis_shards": shards,
        "hot_slot_ceiling_per_s": hot_ceiling,
        "pg_rows_per_s": rows,
        "pg_wal_bytes_per_s": wal,
        "net_client_bytes_per_s": {"in": in_bytes, "out": out_bytes},
        "net_redis_bytes_per_s": redis_net,
        "net_estimated_for": estimated,
        "limits": {t: {"headroom_x": x, "why": why} for t, (x, why) in limits.items()},
        "runs_out_first": {"tier": first[0], "headroom_x": first[1][0], "why": first[1][1]} if first else None,
    }


def login_rush(c: dict[str, dict], users: int, core_counts=(2, 8, 32, 128)) -> dict | None:
    """How long `users` log-ins take on N web cores (password hashing), from the measured cost."""
    if "login" not in c:
        return None
    ms = c["login"]["web"] + c["login"]["pg"]
    return {
        "users": users,
        "web_ms_per_login": c["login"]["web"],
        "per_core_per_s": 1000 / c["login"]["web"] if c["login"]["web"] else None,
        "seconds": {n: users * ms / 1000 / n for n in core_counts},
    }


def memory_plan(mem: dict, *, users: int, campaigns: int, sales: int, shares: int = 10_000, units: int = 10_000,
                overhead: float = 1.5) -> dict:  # fmt: skip
    """Redis bytes for this many users, and campaigns of `shares` shares (all grabbed) and flash
    sales of `units` units (all bought), scaled from the measured ones. `overhead`: room for the
    allocator's fragmentation and the copy-on-write of a persistence fork."""
    per_user = mem["per_user_bytes"]
    per_campaign = mem["per_campaign_bytes"] / mem.get("campaign_shares", shares) * shares
    per_sale = mem["per_sale_bytes"] / mem.get("sale_units", units) * units
    raw = users * per_user + campaigns * per_campaign + sales * per_sale
    return {
        "users": users,
        "campaigns": campaigns,
        "sales": sales,
        "per_user_bytes": per_user,
        "per_user_kinds": mem.get("per_user_kinds", {}),
        "per_campaign_bytes": per_campaign,
        "per_sale_bytes": per_sale,
        "shares_per_campaign": shares,
        "units_per_sale": units,
        "raw_bytes": raw,
        "with_overhead_bytes": raw * overhead,
        "overhead": overhead,
    }


def rss(doc: dict) -> dict:
    """Resident memory of a web process and of the worker under load (largest window seen)."""
    web = worker = None
    for r in doc.get("results", []):
        m = r.get("rss_mb") or {}
        if m.get("web") and r.get("name") != "cdn-file":
            web = max(web or 0, m["web"]["max"])
        if m.get("worker"):
            worker = max(worker or 0, m["worker"]["sum"])
    return {"web_process_mb": web, "worker_mb": worker}


def validation(doc: dict) -> list[dict]:
    """Predicted vs measured req/s for the bench's --validate-workers windows, and the drain.
    Prediction from the main windows' CPU per request only: N sync workers serve at most N x
    1000 / web ms; the box at most the cores other processes left it in that window x 1000 /
    (server + load generator ms), since the load generator shares it."""
    v = doc.get("validation") or {}
    nproc = (doc.get("machine") or {}).get("nproc") or 2
    out = []
    for r in v.get("workers", []):
        scenario, name = r["validates"].split(".")
        base = _find(doc, scenario, name)
        if not base or not r.get("rps"):
            continue
        # The cores other sessions left the bench in that window: the box's, not the server's.
        other = r.get("other_cpu_share", base.get("other_cpu_share"))
        free = nproc * (1 - (other or 0))
        n = r["gunicorn_workers"]
        predicted = _throughput(n, base, free)
        check = _check(f"{r['validates']}, {n} worker(s)", predicted, r["rps"])
        # The same law on the window's own CPU per request: is the law right, or did the cost move?
        own = _throughput(n, r, free)
        check["predicted_own_cpu"] = own
        check["error_own_cpu"] = (own - r["rps"]) / r["rps"] if own else None
        out.append(check)
    d = v.get("drain")
    per_row = drain_ms_per_row(doc)
    if d and per_row and d.get("rows_per_s"):
        out.append(_check(f"drain of a {d['backlog_rows']:,}-row backlog, worker start to last row (rows/s)",
                          1000 / per_row, d["rows_per_s"]))  # fmt: skip
        if d.get("cpu_ms_per_row"):
            # The law on the backlog's own CPU per row (the window's drains ran small batches).
            out[-1]["predicted_own_cpu"] = 1000 / d["cpu_ms_per_row"]
            out[-1]["error_own_cpu"] = out[-1]["predicted_own_cpu"] / d["rows_per_s"] - 1
    if d and per_row and d.get("rows_per_s_running"):
        out.append(_check("the same drain, first batch to last row (rows/s)", 1000 / per_row, d["rows_per_s_running"]))
    return out


def _throughput(n: int, r: dict, free_cores: float) -> float | None:
    """req/s of n sync workers: each at most one core of web CPU; all of them and the rest of
    the server and the load generator at most the free cores."""
    web = r.get("web_cpu_ms_per_req") or 0.0
    total = web + sum(r.get(f"{k}_cpu_ms_per_req") or 0.0 for k in ("stores", "worker", "loadgen"))
    return min(n * 1000 / web, free_cores * 1000 / total) if web and total else None


def _check(what: str, predicted: float | None, measured: float) -> dict:
    err = (predicted - measured) / measured if predicted else None
    return {"what": what, "predicted": predicted, "measured": measured, "error": err}


# ---------------------------------------------------------------- output


def _n(x: float | None, fmt: str = "{:,.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def _bytes(b: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= size:
            return f"{b / size:,.1f} {unit}"
    return f"{b:,.0f} B"


def _bits(b: float) -> str:
    bits = b * 8
    for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits >= size:
            return f"{bits / size:,.1f} {unit}"
    return f"{bits:,.0f} bit/s"


def mix_label(mix: dict[str, float]) -> str:
    return " + ".join(f"{v:,.0f} {k}" for k, v in mix.items()) + " /s"


def sizing_table(plans: list[dict], markdown: bool = False) -> str:
    head = ["target", *(TIER_NAMES[t] + " cores" for t in TIERS), "Redis shards", "PG rows/s", "client out",
            "runs out first (x this rate)"]  # fmt: skip
    rows = []
    for p in plans:
        first = p["runs_out_first"]
        rows.append([
            p.get("label") or mix_label(p["mix"]),
            *(_n(p["cores"][t]) for t in TIERS),
            str(p["redis_shards"]),
            _n(p["pg_rows_per_s"], "{:,.0f}"),
            _bits(p["net_client_bytes_per_s"]["out"]) + (" (est.)" if p["net_estimated_for"] else ""),
            f"{TIER_NAMES[first['tier']]} at {first['headroom_x']:.2g}x ({first['why']})" if first else "-",
        ])  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)])


def report(doc: dict, plans: list[dict], c: dict, *, source: str, rush: dict | None, mem: dict | None,
           procs: dict, checks: list[dict]) -> str:  # fmt: skip
    lines = [f"Capacity model from {source} (run {doc.get('stamp')}, {(doc.get('machine') or {}).get('cpu_model')})",
             f"Tiers planned at {UTILISATION:.0%} busy.", "", "Measured cost per request (CPU ms):"]  # fmt: skip
    lines.append("  kind     variant          web     lb  worker     pg  redis  rows  body B")
    for k, x in c.items():
        lines.append(
            f"  {k:7}  {x['variant']:14} {x['web']:6.3f} {x['lb']:6.3f} {x['worker']:6.3f} {x['pg']:6.3f} "
            f"{x['redis']:6.3f} {x['rows']:5.2f}  {_n(x['body_bytes'], '{:,.0f}')}"
        )
    per_row = drain_ms_per_row(doc)
    if per_row:
        lines.append(
            f"  drain: {per_row:.3f} ms (worker + primary) per grab row: one drain {1000 / per_row:,.0f} rows/s"
        )
    lines += ["", sizing_table(plans), ""]
    for p in plans:
        hot = p["hot_slot_ceiling_per_s"]
        label = p.get("label") or mix_label(p["mix"])
        lines.append(
            f"{label}: {p['cores_total']:,.1f} cores in all; PostgreSQL {p['pg_rows_per_s']:,.0f} rows/s "
            f"({_bytes(p['pg_wal_bytes_per_s'])}/s of WAL to every replica); clients in "
            f"{_bits(p['net_client_bytes_per_s']['in'])}, out {_bits(p['net_client_bytes_per_s']['out'])}; "
            f"web <-> Redis {_bits(p['net_redis_bytes_per_s'])}"
            + (f"; one hot packet or product is capped at {hot:,.0f}/s (one shard)" if hot else "")
        )
    mixes = [p for p in plans if p.get("label", "").startswith("sale-day")]
    if mixes:
        lines.append(f"(*) sale-day mix: {mix_label(mixes[0]['mix'])}, one hot flash product")
    if any(p["net_estimated_for"] for p in plans):
        lines.append("(network: these results have no response sizes; bodies counted as 0 B + "
                     f"{RESPONSE_HEADER_BYTES} B of headers, an estimate)")  # fmt: skip
    lines.append(
        f"(headers: {RESPONSE_HEADER_BYTES} B per response and {REQUEST_BYTES} B per request are estimates; "
        "bodies are measured)"
    )
    if rush:
        times = ", ".join(f"{n} cores {_duration(s)}" for n, s in rush["seconds"].items())
        per_core = _n(rush["per_core_per_s"])
        lines += ["", f"Log-in rush: {rush['web_ms_per_login']:.0f} ms of web CPU per log-in ({per_core}/s per "
                      f"core); {rush['users']:,} log-ins take: {times}."]  # fmt: skip
    if mem:
        kinds = ", ".join(f"{k} {v:,.0f} B" for k, v in mem["per_user_kinds"].items())
        m = mem
        lines += [
            "",
            f"Redis memory: {m['per_user_bytes']:,.0f} B per user ({kinds}); {m['users']:,} users, "
            f"{m['campaigns']:,} campaigns of {m['shares_per_campaign']:,} shares ({_bytes(m['per_campaign_bytes'])} "
            f"each) and {m['sales']:,} flash sales of {m['units_per_sale']:,} units ({_bytes(m['per_sale_bytes'])} "
            f"each): {_bytes(m['raw_bytes'])} of keys, {_bytes(m['with_overhead_bytes'])} with {m['overhead']:g}x "
            "for fragmentation and a persistence fork.",
        ]
    else:
        lines += ["", "Redis memory: no memory JSON (run python -m loadtest.memory)."]
    if procs.get("web_process_mb"):
        lines.append(
            f"Process memory under load: {procs['web_process_mb']:.0f} MB per gunicorn worker (one per core + 1), "
            f"Celery worker {_n(procs['worker_mb'], '{:.0f}')} MB in all."
        )
    if checks:
        lines += ["", "Validation, predicted vs measured (same run):"]
        lines += validation_lines(checks)
    return "\n".join(lines)


def validation_lines(checks: list[dict]) -> list[str]:
    lines = []
    for ch in checks:
        err = f"{ch['error']:+.0%}" if ch["error"] is not None else "-"
        own = ""
        if ch.get("predicted_own_cpu"):
            own = f" (on the window's own CPU/req: {ch['predicted_own_cpu']:,.0f}, {ch['error_own_cpu']:+.0%})"
        lines.append(f"  {ch['what']}: predicted {_n(ch['predicted'], '{:,.0f}')}, measured {ch['measured']:,.0f}, "
                     f"error {err}{own}")  # fmt: skip
    return lines


def _duration(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else (f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s")


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        if not part.strip():
            continue
        k, _, v = part.partition("=")
        if k.strip() not in KINDS:
            raise SystemExit(f"capacity: unknown kind {k!r}; known: {', '.join(KINDS)}")
        mix[k.strip()] = float(v)
    return mix


def build(doc: dict, *, rates, mix: dict[str, float], mem_doc: dict | None, users: int, campaigns: int,
          sales: int, login_users: int, shares: int = 10_000, units: int = 10_000) -> dict:  # fmt: skip
    c = costs(doc)
    per_row = drain_ms_per_row(doc)
    drained = measured_drain(doc)
    plans = []
    for rate in rates:
        p = plan(c, {"grab": rate}, drain_events_per_s=drained)
        p["label"] = f"{rate:,.0f} grabs/s (one packet)"
        plans.append(p)
    usable = {k: v for k, v in mix.items() if k in c}
    if usable:
        p = plan(c, usable, hot="flash", drain_events_per_s=drained)
        p["label"] = "sale-day mix (*)"
        plans.append(p)
    return {
        "stamp": doc.get("stamp"),
        "utilisation": UTILISATION,
        "costs": c,
        "drain_ms_per_row": per_row,
        "drain_measured_events_per_s": drained,
        "plans": plans,
        "login_rush": login_rush(c, login_users),
        "memory": memory_plan(mem_doc, users=users, campaigns=campaigns, sales=sales, shares=shares, units=units)
        if mem_doc
        else None,
        "processes": rss(doc),
        "validation": validation(doc),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.capacity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("results", nargs="?", help="a bench results JSON (default: the newest in loadtest/results)")
    p.add_argument("--rate", type=float, action="append", help="grabs/s to size for (repeat; default 1k, 10k, 100k)")
    p.add_argument("--mix", default="", help="the sale-day mix, kind=rate,... (kinds: " + ", ".join(KINDS) + ")")
    p.add_argument("--memory", default=str(MEMORY_JSON), help="bytes per key kind (python -m loadtest.memory)")
    p.add_argument("--users", type=int, default=10_000_000, help="users for the Redis memory answer")
    p.add_argument("--campaigns", type=int, default=1_000, help="live red-packet campaigns")
    p.add_argument("--sales", type=int, default=1_000, help="live flash products")
    p.add_argument("--shares", type=int, default=10_000, help="shares of a campaign (memory scales with them)")
    p.add_argument("--units", type=int, default=10_000, help="units of a flash sale (memory scales with them)")
    p.add_argument("--login-users", type=int, default=100_000, help="users logging in before the sale")
    p.add_argument("--validate", action="store_true", help="only the predicted vs measured check")
    p.add_argument("--json", action="store_true", help="the model as JSON")
    args = p.parse_args(argv)
    path = Path(args.results) if args.results else latest_results()
    if path is None or not path.exists():
        print("capacity: no results file (run make bench)", file=sys.stderr)
        return 2
    doc = json.loads(path.read_text())
    mem_path = Path(args.memory)
    mem_doc = json.loads(mem_path.read_text()) if mem_path.exists() else None
    model = build(
        doc,
        rates=args.rate or DEFAULT_RATES,
        mix=parse_mix(args.mix) if args.mix else SALE_DAY_MIX,
        mem_doc=mem_doc,
        users=args.users,
        campaigns=args.campaigns,
        sales=args.sales,
        shares=args.shares,
        units=args.units,
        login_users=args.login_users,
    )
    if args.json:
        print(json.dumps(model, indent=1, default=str))
        return 0
    if args.validate:
        if not model["validation"]:
            print("capacity: no validation windows in this run (python -m loadtest.bench --validate-workers 1,2,3)")
            return 1
        model = {**model, "plans": []}
    try:
        source = str(path.relative_to(ROOT))
    except ValueError:
        source = str(path)
    if args.validate:
        print("\n".join(validation_lines(model["validation"])))
        return 0
    print(report(doc, model["plans"], model["costs"], source=source, rush=model["login_rush"], mem=model["memory"],
                 procs=model["processes"], checks=model["validation"]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
