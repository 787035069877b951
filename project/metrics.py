"""Prometheus metrics and per-request counters (SQL queries, Redis commands).

With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (deploy/ does) so `/metrics`
aggregates every worker. The per-request counters are thread-local and cost a few
attribute writes; the load harness reads them from `/metrics` to report SQL and Redis calls
per request as counted by the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.db.backends.signals import connection_created
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from project.counters import count_sql, snapshot

REQUESTS = Counter("surge_http_requests_total", "HTTP requests served", ["view", "status"])
REQUEST_SQL = Counter("surge_http_sql_queries_total", "SQL queries run while serving requests", ["view"])
REQUEST_REDIS = Counter("surge_http_redis_commands_total", "Redis commands sent while serving requests", ["view"])
LATENCY = Histogram(
    "surge_http_request_seconds",
    "Request latency",
    ["view"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CACHE_EVENTS = Counter("surge_cache_events_total", "Two-level cache events", ["namespace", "event"])
DRAIN_ROUNDS = Counter("surge_queue_drain_rounds_total", "Drain rounds finished by the workers")
QUEUE_EVENTS = Counter("surge_queue_events_total", "Reliable queue events", ["queue", "event"])


def _count_sql(execute, sql, params, many, context):
    count_sql(1)
    return execute(sql, params, many, context)


def _install_sql_counter(sender, connection, **kwargs):
    if _count_sql not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_sql)


connection_created.connect(_install_sql_counter, dispatch_uid="surge_sql_counter")


def cache_event(namespace: str, event: str) -> None:
    CACHE_EVENTS.labels(namespace, event).inc()


def queue_event(queue: str, event: str, n: int = 1) -> None:
    QUEUE_EVENTS.labels(queue, event).inc(n)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import time

        sql0, redis0 = snapshot()
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        sql1, redis1 = snapshot()
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else None) or "unmatched"
        REQUESTS.labels(view, str(response.status_code)).inc()
        LATENCY.labels(view).observe(elapsed)
        if sql1 - sql0:
            REQUEST_SQL.labels(view).inc(sql1 - sql0)
        if redis1 - redis0:
            REQUEST_REDIS.labels(view).inc(redis1 - redis0)
        return response


def queue_depth_families(depths: Callable[[], dict[str, int]]):
    """`surge_queue_depth` from `depths()` (project.queue.depths: one LLEN pipeline)."""
    depth = GaugeMetricFamily("surge_queue_depth", "Events waiting per reliable queue family", labels=["queue"])
    try:
        for name, n in depths().items():
            depth.add_metric([name], n)
    except Exception:  # noqa: BLE001, S110 - Redis down: no depth, the scrape still answers
        pass
    yield depth


def replica_families(status: Callable[[], dict]):
    """The router's replica view from `status()` (project.db_router.replica_status)."""
    current = status()
    yield GaugeMetricFamily("surge_replica_lag_seconds", "Replica replay lag seen by the router", value=current["lag"])
    yield GaugeMetricFamily("surge_replica_ok", "1 while reads go to the replica", value=int(current["ok"]))


# Gauges read at scrape time, registered by ProjectConfig.ready(): this module imports neither the
# queue nor the router (the queue imports this one to count its events).
_scrape_sources: dict[str, Callable[[], Iterable]] = {}


def register_scrape_source(name: str, source: Callable[[], Iterable]) -> None:
    _scrape_sources[name] = source


class StoreCollector:
    """Read at scrape time: every registered source's gauges."""

    def collect(self):
        for source in list(_scrape_sources.values()):
            yield from source()


_store_collector = StoreCollector()
if not settings.PROMETHEUS_MULTIPROC_DIR:
    DEFAULT_REGISTRY.register(_store_collector)


def render_latest() -> bytes:
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_store_collector)
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)
