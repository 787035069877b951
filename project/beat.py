"""Celery beat that runs on several hosts with exactly one active: a lock in Redis.

Every beat (`celery -A project beat`, settings.CELERY_BEAT_SCHEDULER points here) tries to take
`beat:lock` with SET NX PX `BEAT_LOCK_SECONDS`. The holder sends the due jobs and renews the lock
every third of that; the others check once a second and send nothing. When the active beat is
SIGKILLed or its host is cut off, its lock expires and a standby takes it within
`BEAT_LOCK_SECONDS` + 1 s. The standby's entries were never sent by it, so every job that is due
(or overdue) runs at once after the handover: none is lost, and a job the dead beat sent just
before dying may run once more, which the periodic jobs allow (they are idempotent: drains,
reconciliations, rebuilds).

A beat that cannot renew (Redis unreachable, or the key now names another beat after a pause
longer than the lock) stops sending at once and goes back to standby. A beat that stops cleanly
deletes its own lock so the standby takes over at its next check.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid

from celery.beat import PersistentScheduler
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from project.redis import get_redis

log = logging.getLogger(__name__)

LOCK_KEY = "beat:lock"

# Extend or delete the lock only while it still names this beat (another may hold it by now).
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

STANDBY_POLL_SECONDS = 1.0

# The message header naming the beat that sent a job, and the list of the latest runs.
SENT_BY_HEADER = "surge_beat"
RUNS_KEY = "beat:runs"
RUNS_KEPT = 500


class BeatLock:
    """The lock itself, apart from Celery so it can be tested and inspected on its own."""

    def __init__(self, seconds: float | None = None, holder: str | None = None):
        self.ttl_ms = int((seconds or settings.BEAT_LOCK_SECONDS) * 1000)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self.renewed_at = 0.0

    @property
    def renew_every(self) -> float:
        return self.ttl_ms / 3000

    def acquire_or_renew(self) -> bool:
        """True while this beat holds the lock; renews it when a third of its time has passed."""
        now = time.monotonic()
        if self.held and now - self.renewed_at < self.renew_every:
            return True
        try:
            client = get_redis()
            if self.held:
                ok = bool(client.eval(_RENEW, 1, LOCK_KEY, self.holder, self.ttl_ms))
            else:
                ok = bool(client.set(LOCK_KEY, self.holder, nx=True, px=self.ttl_ms))
        except RedisError as exc:  # unreachable, or a demoted master refusing writes
            if self.held:
                log.warning("beat lock: Redis unreachable (%s), standing by", exc)
            ok = False
        if ok and not self.held:
            log.warning("beat lock acquired by %s: this beat is active", self.holder)
        elif self.held and not ok:
            log.warning("beat lock lost by %s: standing by", self.holder)
        self.held = ok
        if ok:
            self.renewed_at = now
        return ok

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(RedisError):  # unreachable: it expires by itself
            get_redis().eval(_RELEASE, 1, LOCK_KEY, self.holder)
        log.warning("beat lock released by %s", self.holder)


class LockedScheduler(PersistentScheduler):
    """PersistentScheduler that sends jobs only while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.lock = BeatLock()
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        if not self.lock.acquire_or_renew():
            return STANDBY_POLL_SECONDS
        interval = super().tick(*args, **kwargs)
        # Wake up in time to renew, whatever the next job's due time is.
        return min(interval, max(0.1, self.lock.renew_every - (time.monotonic() - self.lock.renewed_at)))

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        # The worker records which beat sent each job (record_run): the handover is visible.
        entry.options.setdefault("headers", {})[SENT_BY_HEADER] = self.lock.holder
        return super().apply_async(entry, producer, advance, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.lock.release()


def holder() -> str | None:
    """The active beat (host:pid:nonce), or None when no beat holds the lock."""
    value = get_redis().get(LOCK_KEY)
    return value.decode() if value else None


def record_run(task: str, sent_by: str) -> None:
    """On the worker, before a job sent by a beat runs: keep the latest RUNS_KEPT runs."""
    entry = json.dumps({"task": task, "by": sent_by, "at": time.time()})
    with contextlib.suppress(RedisError):  # bookkeeping only: the job runs anyway
        get_redis().pipeline(transaction=False).lpush(RUNS_KEY, entry).ltrim(RUNS_KEY, 0, RUNS_KEPT - 1).execute()


def recent_runs() -> list[dict]:
    """The latest jobs sent by a beat, oldest first: {"task", "by" (holder), "at" (epoch s)}."""
    return [json.loads(raw) for raw in reversed(get_redis().lrange(RUNS_KEY, 0, -1))]


def lock_families():
    """`surge_beat_active` for /metrics: 1 while some beat holds the lock (SurgeBeatNotRunning)."""
    try:
        active = int(bool(get_redis().exists(LOCK_KEY)))
    except RedisError:
        return  # no figure without Redis; SurgeRedisDown pages for that
    yield GaugeMetricFamily("surge_beat_active", "1 while a Celery beat holds the beat lock", value=active)
