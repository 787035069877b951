"""Primary/replica routing with read-your-writes.

- Writes go to `default` (the primary); reads to `replica`.
- Reads go to the primary inside an atomic block on the primary, for the rest of a request
  after a write, and for READ_YOUR_WRITES_SECONDS after a write by the same client (a signed
  cookie for browsers, a per-user Redis key for token clients).
- Writes that a worker makes for a user (a drained grab or flash order, a repaired sign-in)
  record the primary's WAL position per user (`remember_writes`); that user's reads go to the
  primary until the replica has replayed past it. Cache fills for a user run under
  `reading_for(user_id)`, which checks the position again right before the fill reads, so a
  fill never caches a replica state older than a write it was invalidated for.
- The pins are only looked at when a read actually needs a database, so cache hits pay nothing.
- A replica that is unreachable or lags past REPLICA_MAX_LAG_SECONDS is skipped; its health is
  checked at most every REPLICA_CHECK_INTERVAL_SECONDS per process, on connections of its own
  (so health checks never show up in a request's query count). A read-only request whose
  replica connection fails runs again once on a fresh replica connection if a probe finds the
  replica up (reads keep working while the primary is down), else on the primary.
- Migrations run only on `default`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import psycopg2
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import signing
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)

PIN_COOKIE = "surge_rw"
PIN_SALT = "surge.read-your-writes"
WRITE_POSITION_SCRIPT = Path(__file__).parent / "lua" / "write_position.lua"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_state = threading.local()


def _pin_key(user_id: int) -> str:
    return f"rw:{{{user_id}}}"


def position_key(user_id: int) -> str:
    """The newest WAL position a worker wrote for the user. Its hash tag is the user's id, as in
    the user's cache keys, so a fill script can check it atomically (also on Redis Cluster)."""
    return f"rw:{{{user_id}}}:lsn"


def parse_lsn(text: str | None) -> int | None:
    """PostgreSQL's `X/Y` pg_lsn text as one integer."""
    if not text:
        return None
    high, _, low = str(text).partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_lsn(lsn: int | None) -> str | None:
    """The inverse of parse_lsn: PostgreSQL's own `X/Y` text, as operators read it."""
    return None if lsn is None else f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def _lsn_hex(lsn: int) -> str:
    return f"{lsn:016x}"


# ---------------------------------------------------------------- request state


def begin_request(request=None) -> None:
    _state.pinned = False
    _state.wrote = False
    _state.request = request
    _state.pin_checked = request is None
    _state.replica_failed = False


def end_request() -> None:
    _state.pinned = False
    _state.wrote = False
    _state.request = None
    _state.pin_checked = True
    _state.replica_failed = False


def pin_to_primary() -> None:
    """Send the rest of this request's (or task's) reads to the primary, and remember the write."""
    _state.pinned = True
    _state.wrote = True


def wrote_in_request() -> bool:
    return getattr(_state, "wrote", False)


def _request_user_id(request) -> int | None:
    """The user behind a request without loading it: the verified token, or the session's."""
    user_id = getattr(request, "surge_token_user_id", None)
    if user_id:
        return int(user_id)
    session = getattr(request, "session", None)
    if session is None:
        return None
    try:
        raw = session.get(SESSION_KEY)
    except Exception:  # noqa: BLE001 - an unreadable session is an anonymous one
        return None
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _client_pinned() -> bool:
    """Did this client write within the last few seconds, or a worker for it past what the
    replica has replayed? Checked lazily, once per request."""
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
    user_id = _request_user_id(request)
    return bool(user_id) and user_needs_primary(user_id)[0]


def user_needs_primary(user_id: int) -> tuple[bool, bytes | None]:
    """(must this user's reads go to the primary, the write position seen). The position
    doubles as a fill guard: a fill writes only if it is still the same afterwards."""
    from project.redis import RedisUnavailable, get_redis

    try:
        time_pin, position = get_redis().mget(_pin_key(user_id), position_key(user_id))
    except RedisUnavailable:
        return True, None  # cannot tell: the primary is always correct
    if time_pin:
        return True, position
    if position:
        return not replica_has_replayed(int(position, 16)), position
    return False, None


@contextlib.contextmanager
def reading_for(user_id: int):
    """Wrap a cache fill of one user's data (after reading the fill's generation, before its
    database reads): if a worker's write for the user is newer than the replica's replay
    position, the fill reads the primary. Yields the write position seen ('' for none): the
    fill passes it to its store script, which writes nothing if a newer write was recorded
    meanwhile (see `fill_guard`). Inside a request the pin lasts the rest of the request, so
    its reads stay consistent."""
    needs, position = user_needs_primary(user_id)
    position = position.decode() if position else ""
    if not needs or getattr(_state, "pinned", False):
        yield position
        return
    _state.pinned = True
    try:
        yield position
    finally:
        if getattr(_state, "request", None) is None:
            _state.pinned = False


def remember_writes(*, user_ids: Iterable[int]) -> None:
    """Call inside the transaction that a worker commits for these users (a drain, a repair),
    before registering its own after-commit cache invalidations: after commit it records the
    primary's WAL position for each user, so their reads, and the fills those invalidations
    cause, go to the primary until the replica has replayed that far."""
    ids = sorted({int(u) for u in user_ids})
    if not ids:
        return
    if connections["default"].in_atomic_block:
        transaction.on_commit(lambda: _record_positions(ids), using="default")
    else:
        _record_positions(ids)


def _record_positions(user_ids: list[int]) -> None:
    from project.redis import RedisUnavailable, hot_script_many, load_script

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()")  # async commits: past the write position
        lsn = parse_lsn(cursor.fetchone()[0])
    # Past this long the replica has either replayed the write or is skipped for lagging.
    ttl = int(settings.REPLICA_MAX_LAG_SECONDS + settings.REPLICA_CHECK_INTERVAL_SECONDS) + 2
    try:
        hot_script_many(
            load_script(WRITE_POSITION_SCRIPT), [([position_key(u)], [_lsn_hex(lsn), ttl]) for u in user_ids]
        )
    except RedisUnavailable:
        logger.warning("write positions of %d users not recorded: Redis unavailable", len(user_ids))


# ---------------------------------------------------------------- replica health

_health = {"checked_at": 0.0, "ok": True, "lag": 0.0, "error": "", "replay_lsn": None}
_health_lock = threading.Lock()
_health_conn = None
_primary_conn = None
# The replay position last seen behind the primary and since when (a replica that stopped
# replaying while the primary writes lags more and more, whatever its last measured lag said).
_behind = {"lsn": None, "since": 0.0}

REPLICA_SQL = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()"
# The replica-side estimate, used only when the primary cannot be asked.
REPLICA_ONLY_LAG_SQL = """
SELECT CASE
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""
# PostgreSQL's own lag measurement (the walsender interpolates WAL positions over time).
PRIMARY_SQL = """
SELECT pg_current_wal_lsn()::text, replay_lsn::text, COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)
  FROM (SELECT 1) AS one LEFT JOIN pg_stat_replication ON true
"""


def replica_status(force: bool = False) -> dict:
    """{'ok', 'lag', 'error', 'replay_lsn', 'checked_at'} for the replica, re-checked at most
    every few seconds. `replay_lsn` is None when the replica alias is itself a primary."""
    now = time.monotonic()
    if not force and now - _health["checked_at"] < settings.REPLICA_CHECK_INTERVAL_SECONDS:
        return dict(_health)
    with _health_lock:
        if not force and now - _health["checked_at"] < settings.REPLICA_CHECK_INTERVAL_SECONDS:
            return dict(_health)
        ok, lag, error, replay_lsn = _probe_replica()
        if ok and lag > settings.REPLICA_MAX_LAG_SECONDS:
            ok, error = False, f"lag {lag:.1f}s over {settings.REPLICA_MAX_LAG_SECONDS}s"
        if not ok and _health["ok"]:
            logger.warning("replica unavailable, reading from the primary: %s", error)
        _health.update(checked_at=time.monotonic(), ok=ok, lag=lag, error=error, replay_lsn=replay_lsn)
        return dict(_health)


def replica_has_replayed(lsn: int) -> bool:
    """Has the replica replayed the primary's WAL up to `lsn`? Re-probes (at most every
    REPLICA_LSN_RECHECK_SECONDS) before sending a user to the primary."""
    status = replica_status()
    if status["replay_lsn"] is None or status["replay_lsn"] >= lsn:
        return status["ok"]
    if time.monotonic() - status["checked_at"] >= settings.REPLICA_LSN_RECHECK_SECONDS:
        status = replica_status(force=True)
    return status["ok"] and (status["replay_lsn"] is None or status["replay_lsn"] >= lsn)


def _connect(alias: str):
    cfg = connections[alias].settings_dict
    conn = psycopg2.connect(
        dbname=cfg["NAME"],
        user=cfg["USER"] or None,
        password=cfg["PASSWORD"] or None,
        host=cfg["HOST"] or None,
        port=cfg["PORT"] or None,
        connect_timeout=1,
        **{k: v for k, v in (cfg.get("OPTIONS") or {}).items() if k == "target_session_attrs"},
    )
    conn.autocommit = True
    return conn


def _primary_position() -> tuple[int, list[tuple[int | None, float]]] | None:
    """(the primary's WAL position, [(replay position, replay lag) per standby]), or None."""
    global _primary_conn
    try:
        if _primary_conn is None or _primary_conn.closed:
            _primary_conn = _connect("default")
        with _primary_conn.cursor() as cur:
            cur.execute(PRIMARY_SQL)
            rows = cur.fetchall()
    except psycopg2.Error:
        if _primary_conn is not None:
            with contextlib.suppress(psycopg2.Error):
                _primary_conn.close()
        _primary_conn = None
        return None
    return parse_lsn(rows[0][0]), [(parse_lsn(r[1]), float(r[2])) for r in rows if r[1] is not None]


def _lag(replay_lsn: int, primary: tuple | None, replica_cursor) -> float:
    """Seconds the replica is behind: 0 once it has replayed what the primary had written just
    before; else PostgreSQL's replay_lag for this standby (the one whose replay position is
    nearest), or how long it has sat at one position behind the primary if that is longer."""
    if primary is None:
        replica_cursor.execute(REPLICA_ONLY_LAG_SQL)
        return float(replica_cursor.fetchone()[0])
    primary_lsn, standbys = primary
    now = time.monotonic()
    if replay_lsn >= primary_lsn:
        _behind.update(lsn=None, since=0.0)
        return 0.0
    if _behind["lsn"] != replay_lsn:
        _behind.update(lsn=replay_lsn, since=now)
    measured = 0.0
    if standbys:
        measured = min(standbys, key=lambda s: abs((s[0] or 0) - replay_lsn))[1]
    return max(measured, now - _behind["since"])


def _probe_replica() -> tuple[bool, float, str, int | None]:
    global _health_conn
    # The primary's position first: a replica at or past it has replayed every earlier commit.
    primary = _primary_position()
    try:
        if _health_conn is None or _health_conn.closed:
            _health_conn = _connect("replica")
        with _health_conn.cursor() as cur:
            cur.execute(REPLICA_SQL)
            in_recovery, replay_text = cur.fetchone()
            if not in_recovery:
                return True, 0.0, "", None
            replay_lsn = parse_lsn(replay_text) or 0
            return True, _lag(replay_lsn, primary, cur), "", replay_lsn
    except psycopg2.Error as exc:
        if _health_conn is not None:
            with contextlib.suppress(psycopg2.Error):
                _health_conn.close()
        _health_conn = None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, 0.0, message, 0


def mark_replica_failed(error: str) -> None:
    """A read on the replica failed: skip it in this process until the next health check."""
    if _health["ok"]:
        logger.warning("replica failed under a request, reading from the primary: %s", error)
    _health.update(checked_at=time.monotonic(), ok=False, error=error)
    _state.replica_failed = True


def close_health_connection() -> None:
    global _health_conn, _primary_conn
    for conn in (_health_conn, _primary_conn):
        if conn is not None:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
    _health_conn = _primary_conn = None


def reset_replica_status() -> None:
    _health.update(checked_at=0.0, ok=True, lag=0.0, error="", replay_lsn=None)
    _behind.update(lsn=None, since=0.0)


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


def _note_replica_failure(execute, sql, params, many, context):
    # Django has already turned psycopg2's errors into its own by the time they reach here.
    try:
        return execute(sql, params, many, context)
    except (OperationalError, InterfaceError) as exc:
        mark_replica_failed(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise


def _install_replica_failure_note(sender, connection, **kwargs):
    # On every replica connection, for good: a per-request execute_wrapper() block would pop
    # whichever wrapper was appended last on exit, e.g. the SQL counter of a connection opened
    # inside the block.
    if connection.alias == "replica" and _note_replica_failure not in connection.execute_wrappers:
        connection.execute_wrappers.append(_note_replica_failure)


connection_created.connect(_install_replica_failure_note, dispatch_uid="surge_replica_failure_note")


class ReadYourWritesMiddleware:
    """Resets routing state per request, pins the client after a write, and runs a read-only
    request again when the replica failed under it: on a fresh replica connection, else on the
    primary (no 500 for a lost replica)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        begin_request(request)
        try:
            response = self.get_response(request)
            if response.status_code >= 500 and self._replica_to_blame(request):
                response = self._read_again(request)
            if _state.wrote:
                self._remember_write(request, response)
            return response
        finally:
            end_request()

    def _read_again(self, request):
        """A read whose replica failed: once more on a fresh replica connection if the replica
        still answers a probe (a dropped connection says little about the server, and the
        primary may be the one that is down), then on the primary."""
        with contextlib.suppress(Exception):
            connections["replica"].close()
        if replica_status(force=True)["ok"]:
            logger.warning("%s %s: replica connection lost, retried on a fresh one", request.method, request.path)
            begin_request(request)
            response = self.get_response(request)
            if response.status_code < 500 or not self._replica_to_blame(request):
                return response
            with contextlib.suppress(Exception):
                connections["replica"].close()
        logger.warning("%s %s: replica lost mid-request, retried on the primary", request.method, request.path)
        begin_request(request)
        _state.pinned = True
        return self.get_response(request)

    def _replica_to_blame(self, request) -> bool:
        if _state.wrote or request.method not in SAFE_METHODS:
            return False
        if getattr(_state, "replica_failed", False):
            return True
        # A connection refused before any query ran is not seen by the execute wrapper.
        return not replica_status(force=True)["ok"]

    def _remember_write(self, request, response) -> None:
        seconds = settings.READ_YOUR_WRITES_SECONDS
        user_id = getattr(request, "surge_token_user_id", None)
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
