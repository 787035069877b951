"""Every store, its role and its lag, and the queues: one read for `manage.py health` and the
control room. Costs one SQL query on the primary (plus the router's own replica probe, on its
own connection) and a few Redis round trips, whatever the data."""

from __future__ import annotations

import json
import time
import urllib.request

from django.conf import settings
from django.db import connections

from project import db_router, queue
from project.redis import RedisUnavailable, get_redis

# How long a probe of a side service (Patroni, the broker) may take before it counts as down.
PROBE_TIMEOUT_SECONDS = 1.0
# Redis memory past this share of maxmemory is reported (degraded): with noeviction the rest of
# a sale's queued grabs may not fit.
REDIS_MEMORY_WARN_FRACTION = 0.9


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _where(alias: str) -> str:
    cfg = connections[alias].settings_dict
    return f"{cfg.get('HOST') or 'local socket'}:{cfg.get('PORT') or 5432}/{cfg.get('NAME')}"


def primary_status() -> dict:
    started = time.perf_counter()
    try:
        with connections["default"].cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            in_recovery = cur.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - any failure means down
        connections["default"].close()
        return {"name": "primary", "ok": False, "role": "?", "where": _where("default"), "error": first_line(exc)}
    return {
        "name": "primary",
        "ok": not in_recovery,
        "role": "replica (read-only!)" if in_recovery else "primary",
        "where": _where("default"),
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "error": "the primary alias reaches a server in recovery" if in_recovery else "",
    }


def replica_status() -> dict:
    status = db_router.replica_status(force=True)
    return {
        "name": "replica",
        "ok": status["ok"],
        "role": "replica" if status["ok"] else "skipped (reads go to the primary)",
        "where": _where("replica"),
        "lag_seconds": round(status["lag"], 3),
        "max_lag_seconds": settings.REPLICA_MAX_LAG_SECONDS,
        # None when the replica alias reaches a primary (no replication) or the probe failed.
        "replay_lsn": db_router.format_lsn(status["replay_lsn"]) if status["replay_lsn"] else None,
        "error": status["error"],
    }


def redis_status() -> dict:
    started = time.perf_counter()
    try:
        info = get_redis().info("replication")
        memory = get_redis().info("memory")
        persistence = get_redis().info("persistence")
    except RedisUnavailable as exc:
        return {"name": "redis", "ok": False, "role": "?", "where": _redis_where(), "error": first_line(exc)}
    out = {
        "name": "redis",
        "ok": True,
        "role": info.get("role", "?"),
        "where": _redis_where(),
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "memory": memory.get("used_memory_human"),
        "maxmemory": memory.get("maxmemory_human") if memory.get("maxmemory") else None,
        "maxmemory_policy": memory.get("maxmemory_policy"),
        "appendonly": bool(persistence.get("aof_enabled")),
        "warnings": _redis_warnings(memory, persistence),
        "error": "",
    }
    if info.get("role") == "master":
        out["replicas"] = int(info.get("connected_slaves", 0))
        offset = int(info.get("master_repl_offset", 0))
        lags = [
            offset - int(v.get("offset", 0)) for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
        ]
        if lags:
            out["replica_lag_bytes"] = max(lags)
    else:
        out["link"] = info.get("master_link_status")
        out["ok"] = info.get("master_link_status") == "up"
    return out


def _redis_warnings(memory: dict, persistence: dict) -> list[str]:
    """What makes Redis refuse writes soon: memory near maxmemory (with noeviction a full Redis
    refuses grabs), or persistence failing (a failed AOF write stops writes on its own)."""
    out = []
    used, limit = int(memory.get("used_memory") or 0), int(memory.get("maxmemory") or 0)
    if limit and used >= REDIS_MEMORY_WARN_FRACTION * limit:
        out.append(f"memory {memory.get('used_memory_human')} of maxmemory {memory.get('maxmemory_human')}")
    if persistence.get("aof_enabled") and persistence.get("aof_last_write_status", "ok") != "ok":
        out.append("the last AOF write failed")
    if persistence.get("rdb_last_bgsave_status", "ok") != "ok":
        out.append("the last RDB snapshot failed")
    return out


def _redis_where() -> str:
    if settings.REDIS_CLUSTER_NODES:  # a RedisCluster has a pool per node, not one
        return "cluster " + ",".join(settings.REDIS_CLUSTER_NODES)
    kwargs = get_redis().connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def broker_status() -> dict | None:
    """The Celery broker, when it is not the cache's Redis (a Sentinel group of its own)."""
    url = settings.CELERY_BROKER_URL
    if not url or url == settings.REDIS_URL or not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    try:
        tls = {"ssl_ca_certs": settings.REDIS_SSL_CA_CERTS} if url.startswith("rediss://") else {}
        client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_SECONDS, socket_connect_timeout=1, **tls)
        role = client.info("replication").get("role", "?")
        client.close()
    except redis.RedisError as exc:
        return {"name": "broker", "ok": False, "role": "?", "error": first_line(exc)}
    return {"name": "broker", "ok": True, "role": role, "error": ""}


def patroni_members() -> list[dict]:
    """The PostgreSQL cluster's members and roles from Patroni's REST API, when PATRONI_URLS
    names it (the first that answers)."""
    urls = settings.PATRONI_URLS or []
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/cluster", timeout=PROBE_TIMEOUT_SECONDS) as res:  # noqa: S310  a configured http(s) Patroni URL
                members = json.loads(res.read()).get("members", [])
        except (OSError, ValueError) as exc:
            errors.append(f"{url}: {first_line(exc)}")
            continue
        return [
            {
                "name": f"patroni {m.get('name')}",
                "ok": m.get("state") in ("running", "streaming"),
                "role": m.get("role", "?"),
                "where": f"{m.get('host')}:{m.get('port')}",
                "lag_seconds": None,
                "lag_bytes": m.get("lag") if isinstance(m.get("lag"), int) else None,
                "error": "" if m.get("state") in ("running", "streaming") else str(m.get("state")),
            }
            for m in members
        ]
    if errors:
        return [{"name": "patroni", "ok": False, "role": "?", "error": "; ".join(errors)}]
    return []


def queues_status() -> dict:
    """Per family: queues, events waiting, held by consumers, dead letters, dead consumers, how
    long the oldest waiting event has waited (when the family names its events' time field);
    and how long ago a drain round finished."""
    client = get_redis()
    keys_by_family = queue.queue_keys()
    registered = queue.families()
    now = time.time()
    families = []
    for name, keys in sorted(keys_by_family.items()):
        depth = in_flight = dead = dead_consumers = 0
        oldest = None
        time_field = registered[name].time_field if name in registered else ""
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                q = queue.ReliableQueue(key)
                pipe.llen(q.key)
                pipe.llen(q.dead_key)
                pipe.hkeys(q.consumers_key)
                pipe.lindex(q.key, 0)
            raw = pipe.execute()
            held = []
            for i, key in enumerate(keys):
                depth += int(raw[4 * i])
                dead += int(raw[4 * i + 1])
                held += [(key, cid.decode()) for cid in raw[4 * i + 2]]
                age = queue.event_age_seconds(raw[4 * i + 3], time_field, now=now)
                if age is not None and (oldest is None or age > oldest):
                    oldest = age
            if held:
                pipe = client.pipeline(transaction=False)
                for key, cid in held:
                    q = queue.ReliableQueue(key)
                    pipe.llen(q.processing_key(cid))
                    pipe.exists(q.alive_key(cid))
                flags = pipe.execute()
                in_flight = sum(int(flags[2 * i]) for i in range(len(held)))
                dead_consumers = sum(1 for i in range(len(held)) if not flags[2 * i + 1])
        families.append(
            {
                "family": name,
                "queues": len(keys),
                "depth": depth,
                "in_flight": in_flight,
                "dead_letters": dead,
                "dead_consumers": dead_consumers,
                "oldest_age_seconds": oldest,
            }
        )
    last = queue.seconds_since_drain()
    return {"families": families, "last_drain_seconds_ago": None if last is None else round(last, 1)}


def health() -> dict:
    """Stores, roles, lags, queues. `ok` is false when any store is down."""
    stores = [primary_status(), replica_status(), redis_status()]
    broker = broker_status()
    if broker:
        stores.append(broker)
    stores += patroni_members()
    queues: dict = {}
    if stores[2]["ok"]:
        try:
            queues = queues_status()
        except RedisUnavailable as exc:
            queues = {"error": first_line(exc)}
    return {"ok": all(s["ok"] for s in stores), "stores": stores, "queues": queues}


HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"


def verdict(report: dict) -> tuple[str, list[str]]:
    """(healthy | degraded | down, why) for a `health()` report. Down: the primary or Redis
    does not answer (writes or every hot path fail). Degraded: the site serves, but something
    needs a person (replica down or lagging past REPLICA_MAX_LAG_SECONDS, a side store down,
    Redis near maxmemory or failing to persist, dead letters, queues unreadable)."""
    down, degraded = [], []
    for store in report["stores"]:
        degraded += [f"{store['name']}: {w}" for w in store.get("warnings") or []]
        if store["ok"]:
            continue
        line = f"{store['name']}: {store.get('error') or 'not ok'}"
        (down if store["name"] in ("primary", "redis") else degraded).append(line)
    queues = report.get("queues") or {}
    if queues.get("error"):
        degraded.append(f"queues: {queues['error']}")
    for family in queues.get("families", []):
        if family["dead_letters"]:
            degraded.append(f"queue family {family['family']}: {family['dead_letters']} dead letter(s)")
    if down:
        return DOWN, down + degraded
    return (DEGRADED, degraded) if degraded else (HEALTHY, [])


QUEUE_TABLE_HEADERS = ("family", "queues", "ready", "in flight", "dead letters", "dead consumers", "oldest wait s")


def queue_table_rows(report: dict) -> list[tuple]:
    """queues_status()'s families as table rows (QUEUE_TABLE_HEADERS), for the commands."""
    keys = ("family", "queues", "depth", "in_flight", "dead_letters", "dead_consumers", "oldest_age_seconds")
    return [tuple(f[k] for k in keys) for f in report["families"]]
