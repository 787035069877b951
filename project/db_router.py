"""Primary/replica routing with read-your-writes.

- Writes go to `default` (the primary); reads to `replica`.
- Reads go to the primary inside an atomic block on the primary, for the rest of a request
  after a write, and for READ_YOUR_WRITES_SECONDS after a write by the same client (a signed
  cookie for browsers, a per-user Redis key for token clients). The pin is only looked at when a
  read actually needs a database, so cache hits pay nothing for it.
- A replica that is unreachable or lags past REPLICA_MAX_LAG_SECONDS is skipped; its health is
  checked at most every REPLICA_CHECK_INTERVAL_SECONDS per process, on a connection of its own
  (so health checks never show up in a request's query count).
- Migrations run only on `default`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import psycopg2
from django.conf import settings
from django.core import signing
from django.db import connections

logger = logging.getLogger(__name__)

PIN_COOKIE = "surge_rw"
PIN_SALT = "surge.read-your-writes"
_state = threading.local()


def _pin_key(user_id: int) -> str:
    return f"rw:{{u{user_id}}}"


# ---------------------------------------------------------------- request state


def begin_request(request=None) -> None:
    _state.pinned = False
    _state.wrote = False
    _state.request = request
    _state.pin_checked = request is None


def end_request() -> None:
    _state.pinned = False
    _state.wrote = False
    _state.request = None
    _state.pin_checked = True


def pin_to_primary() -> None:
    """Send the rest of this request's (or task's) reads to the primary, and remember the write."""
    _state.pinned = True
    _state.wrote = True


def wrote_in_request() -> bool:
    return getattr(_state, "wrote", False)


def _client_pinned() -> bool:
    """Did this client write within the last few seconds? Checked lazily, once per request."""
    if getattr(_state, "pin_checked", True):
        return False
    _state.pin_checked = True
    request = _state.request
    raw = request.COOKIES.get(PIN_COOKIE)
    if raw:
        try:
            signing.loads(raw, salt=PIN_SALT, max_age=settings.READ_YOUR_WRITES_SECONDS)
            return True
        except signing.BadSignature:
            pass
    user_id = getattr(request, "_surge_token_user_id", None)
    if user_id:
        from project.redis import RedisUnavailable, get_redis

        try:
            return bool(get_redis().exists(_pin_key(user_id)))
        except RedisUnavailable:
            return True  # cannot tell: the primary is always correct
    return False


# ---------------------------------------------------------------- replica health

_health = {"checked_at": 0.0, "ok": True, "lag": 0.0, "error": ""}
_health_lock = threading.Lock()
_health_conn = None

LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""


def replica_status(force: bool = False) -> dict:
    """{'ok', 'lag', 'error'} for the replica, re-checked at most every few seconds."""
    now = time.monotonic()
    if not force and now - _health["checked_at"] < settings.REPLICA_CHECK_INTERVAL_SECONDS:
        return dict(_health)
    with _health_lock:
        if not force and now - _health["checked_at"] < settings.REPLICA_CHECK_INTERVAL_SECONDS:
            return dict(_health)
        ok, lag, error = _probe_replica()
        if ok and lag > settings.REPLICA_MAX_LAG_SECONDS:
            ok, error = False, f"lag {lag:.1f}s over {settings.REPLICA_MAX_LAG_SECONDS}s"
        if not ok and _health["ok"]:
            logger.warning("replica unavailable, reading from the primary: %s", error)
        _health.update(checked_at=time.monotonic(), ok=ok, lag=lag, error=error)
        return dict(_health)


def _probe_replica() -> tuple[bool, float, str]:
    global _health_conn
    cfg = connections["replica"].settings_dict
    try:
        if _health_conn is None or _health_conn.closed:
            _health_conn = psycopg2.connect(
                dbname=cfg["NAME"],
                user=cfg["USER"] or None,
                password=cfg["PASSWORD"] or None,
                host=cfg["HOST"] or None,
                port=cfg["PORT"] or None,
                connect_timeout=1,
            )
            _health_conn.autocommit = True
        with _health_conn.cursor() as cur:
            cur.execute(LAG_SQL)
            return True, float(cur.fetchone()[0]), ""
    except psycopg2.Error as exc:
        if _health_conn is not None:
            with contextlib.suppress(psycopg2.Error):
                _health_conn.close()
        _health_conn = None
        return False, 0.0, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def close_health_connection() -> None:
    global _health_conn
    if _health_conn is not None:
        with contextlib.suppress(psycopg2.Error):
            _health_conn.close()
        _health_conn = None


def reset_replica_status() -> None:
    _health.update(checked_at=0.0, ok=True, lag=0.0, error="")


# ---------------------------------------------------------------- the router


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        if getattr(_state, "pinned", False) or connections["default"].in_atomic_block:
            return "default"
        if _client_pinned():
            _state.pinned = True
            return "default"
        if not replica_status()["ok"]:
            return "default"
        return "replica"

    def db_for_write(self, model, **hints):
        pin_to_primary()
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one logical database

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class ReadYourWritesMiddleware:
    """Resets routing state per request and pins the client after a write."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        begin_request(request)
        try:
            response = self.get_response(request)
            if _state.wrote:
                self._remember_write(request, response)
            return response
        finally:
            end_request()

    def _remember_write(self, request, response) -> None:
        seconds = settings.READ_YOUR_WRITES_SECONDS
        user_id = getattr(request, "_surge_token_user_id", None)
        if user_id:
            from project.redis import RedisUnavailable, get_redis

            try:
                get_redis().set(_pin_key(user_id), 1, ex=seconds)
            except RedisUnavailable:
                logger.warning("could not pin token client %s to the primary", user_id)
        else:
            response.set_cookie(
                PIN_COOKIE, signing.dumps(1, salt=PIN_SALT), max_age=seconds, httponly=True, samesite="Lax"
            )
