"""The control room's numbers: built at most once per refresh period by one process (a Redis
lock) and shared through Redis, so the page's JSON costs the database a fixed handful of
queries per period however many admins watch it, and nothing on the hot paths.

The charts come from samples taken at each build (the accepted totals the panels count in
Redis, queue depth, and the latency histogram the app already keeps for `/metrics`); rates and
p99 are differences between consecutive samples."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
import urllib.request

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from project.controlroom import errors, registry, stores
from project.queue import dead_letters, dead_queues
from project.redis import RedisUnavailable, get_redis

logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "controlroom:snapshot"
BUILD_LOCK_KEY = "controlroom:build"
SERIES_KEY = "controlroom:series"
# Samples kept for the charts: ten minutes at the default refresh of 2 s.
SERIES_KEEP = 300
# Views whose latency the p99 chart shows: the two hot writes of a sale.
HOT_VIEWS = ("api-redpacket-grab", "api-flash-buy")

_local_copy: dict = {"at": 0.0, "data": None}  # used only while Redis is down


def refresh_seconds() -> float:
    return max(0.5, float(settings.CONTROLROOM_REFRESH_SECONDS))


def snapshot(*, now: float | None = None) -> dict:
    """The latest snapshot, rebuilt when older than the refresh period. One process builds at a
    time; the others serve the previous one meanwhile."""
    now = time.time() if now is None else now
    period = refresh_seconds()
    try:
        client = get_redis()
        raw = client.get(SNAPSHOT_KEY)
        current = json.loads(raw) if raw else None
        if current and now - current["built_at"] < period:
            return current
        if not client.set(BUILD_LOCK_KEY, os.getpid(), nx=True, px=int(max(5.0, period * 3) * 1000)):
            if current:
                return current
            time.sleep(min(period, 1.0))  # another process is building the very first one
            raw = client.get(SNAPSHOT_KEY)
            if raw:
                return json.loads(raw)
        try:
            data = build()
            client.set(SNAPSHOT_KEY, json.dumps(data), ex=int(period * 30) + 60)
        finally:
            client.delete(BUILD_LOCK_KEY)
        return data
    except RedisUnavailable:
        # Without Redis there is nothing to share: each process rebuilds at most once a period.
        if _local_copy["data"] is None or now - _local_copy["at"] >= period:
            _local_copy.update(at=now, data=build())
        return _local_copy["data"]


def build() -> dict:
    started = time.perf_counter()
    now = time.time()
    health = stores.health()
    redis_ok = health["stores"][2]["ok"]
    panels = []
    for panel in registry.panels():
        try:
            rows = panel.rows()
            error = ""
        except Exception as exc:  # noqa: BLE001 - one app's panel failing leaves the others shown
            logger.warning("control room panel %s failed", panel.name, exc_info=True)
            rows, error = [], stores.first_line(exc)
        panels.append(
            {
                "name": panel.name,
                "title": panel.title,
                "kind": panel.kind,
                "series": panel.series,
                "left_label": panel.left_label,
                "rows": rows,
                "error": error,
                "actions": [{"name": a.name, "label": a.label} for a in registry.actions(panel.kind)],
            }
        )
    data = {
        "built_at": now,
        "refresh_seconds": refresh_seconds(),
        "health": health,
        "panels": panels,
        "dead_letters": _dead_letters() if redis_ok else [],
        "errors": _errors() if redis_ok else [],
        "alerts": alerts(),
    }
    data["series"] = _series(now, panels, health) if redis_ok else []
    data["build_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return data


def _dead_letters() -> list[dict]:
    out = []
    for key in dead_queues():
        n, items = dead_letters(key, limit=5)
        out.append({"queue": key, "count": n, "sample": [i.decode(errors="replace")[:200] for i in items]})
    return out


def _errors() -> list[dict]:
    try:
        return errors.recent(limit=20)
    except RedisUnavailable:
        return []


# ---------------------------------------------------------------- alerts


def alerts() -> dict:
    """Alerts firing in Alertmanager (active, not silenced or inhibited), when ALERTMANAGER_URL
    is set."""
    url = settings.ALERTMANAGER_URL
    if not url:
        return {"configured": False, "firing": []}
    query = urllib.parse.urlencode({"active": "true", "silenced": "false", "inhibited": "false"})
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v2/alerts?{query}", timeout=1.5) as res:  # noqa: S310  a configured http(s) Alertmanager URL
            raw = json.loads(res.read())
    except (OSError, ValueError) as exc:
        return {"configured": True, "error": stores.first_line(exc), "firing": []}
    firing = [
        {
            "name": a.get("labels", {}).get("alertname", "?"),
            "severity": a.get("labels", {}).get("severity", ""),
            "summary": a.get("annotations", {}).get("summary") or a.get("annotations", {}).get("description", ""),
            "since": a.get("startsAt"),
        }
        for a in raw
        if a.get("status", {}).get("state", "active") == "active"
    ]
    return {"configured": True, "firing": sorted(firing, key=lambda a: (a["severity"] != "page", a["name"]))}


# ---------------------------------------------------------------- charts


def _latency_buckets() -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) of the hot views' request latency, summed over views and,
    with PROMETHEUS_MULTIPROC_DIR, over this host's gunicorn workers."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        families = multiprocess.MultiProcessCollector(CollectorRegistry()).collect()
    else:
        families = REGISTRY.collect()
    totals: dict[float, float] = {}
    for family in families:
        if family.name != "surge_http_request_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("view") in HOT_VIEWS:
                le = float(sample.labels["le"])
                totals[le] = totals.get(le, 0.0) + sample.value
    return sorted(totals.items())


def _quantile(q: float, before: list, after: list) -> float | None:
    """histogram_quantile over the difference of two cumulative bucket lists (seconds)."""
    prev = dict(before)
    buckets = [(le, n - prev.get(le, 0.0)) for le, n in after]
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower_bound
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = le, count
    return None


def _series(now: float, panels: list[dict], health: dict) -> list[dict]:
    totals: dict[str, int] = {}
    for panel in panels:
        if panel["series"]:
            totals[panel["series"]] = totals.get(panel["series"], 0) + sum(
                int(r.get("accepted") or 0) for r in panel["rows"]
            )
    families = health.get("queues", {}).get("families", [])
    sample = {
        "t": round(now, 3),
        "totals": totals,
        "depth": sum(f["depth"] + f["in_flight"] for f in families),
        "hist": [[le if le != float("inf") else "inf", n] for le, n in _latency_buckets()],
    }
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.lpush(SERIES_KEY, json.dumps(sample))
    pipe.ltrim(SERIES_KEY, 0, SERIES_KEEP - 1)
    pipe.expire(SERIES_KEY, 3600)
    pipe.lrange(SERIES_KEY, 0, SERIES_KEEP - 1)
    samples = [json.loads(s) for s in reversed(pipe.execute()[-1])]
    points = []
    for a, b in zip(samples, samples[1:], strict=False):
        dt = b["t"] - a["t"]
        if dt <= 0:
            continue
        hist_a = [(float(le), n) for le, n in a.get("hist", [])]
        hist_b = [(float(le), n) for le, n in b.get("hist", [])]
        p99 = _quantile(0.99, hist_a, hist_b)
        point = {"t": b["t"], "depth": b["depth"], "p99_ms": None if p99 is None else round(p99 * 1000, 1)}
        for name, total in b["totals"].items():
            # A campaign leaving the list lowers the total: a rate never goes below zero.
            point[f"{name}_per_s"] = round(max(0, total - a["totals"].get(name, 0)) / dt, 1)
        points.append(point)
    return points
