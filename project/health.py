"""Liveness, readiness and metrics endpoints for the load balancer and Prometheus."""

from __future__ import annotations

import time

from django.db import connections
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from project import db_router, metrics, queue
from project.redis import get_redis


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_primary() -> dict:
    started = time.perf_counter()
    try:
        with connections["default"].cursor() as cur:
            cur.execute("SELECT 1")
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        connections["default"].close()
        return {"ok": False, "error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}


def _check_redis() -> dict:
    started = time.perf_counter()
    try:
        get_redis().ping()
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)}


@never_cache
def readyz(request):
    primary = _check_primary()
    replica = db_router.replica_status(force=True)
    redis_status = _check_redis()
    depths: dict = {}
    last_drain = None
    if redis_status["ok"]:
        try:
            depths = queue.depths()
            last_drain = queue.seconds_since_drain()
        except Exception as exc:  # noqa: BLE001
            depths = {"error": str(exc)}
    # A node stays in the pool while it can serve: a lost replica sends reads to the primary,
    # a lost Redis sends reads to the DB, a lost primary still leaves cached reads and queued
    # grabs. Only when nothing behind it answers is it taken out.
    all_ok = primary["ok"] and replica["ok"] and redis_status["ok"]
    ready = primary["ok"] or (replica["ok"] and redis_status["ok"])
    body = {
        "status": "ready" if all_ok else ("degraded" if ready else "unavailable"),
        "primary": primary,
        "replica": {"ok": replica["ok"], "lag_seconds": round(replica["lag"], 3), "error": replica["error"]},
        "redis": redis_status,
        "queues": depths,
        # Beat drains every second: a large number here means no worker is draining.
        "last_drain_seconds_ago": None if last_drain is None else round(last_drain, 1),
    }
    return JsonResponse(body, status=200 if ready else 503)


@never_cache
def metrics_view(request):
    return HttpResponse(metrics.render_latest(), content_type="text/plain; version=0.0.4; charset=utf-8")
