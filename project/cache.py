"""Two-level cache: a process-local L1 over Redis (L2), with stale-while-revalidate.

`TwoLevelCache.get_or_compute(key, compute)`:
1. L1 (this process, a bounded TTL cache of a few seconds): a hit costs no network call.
2. L2 (Redis) holds {value, soft expiry}; its hard TTL is longer, with jitter so keys filled
   together do not expire together.
3. After soft expiry, one caller takes a `SET NX` lock and recomputes while the others keep
   getting the stale value: one DB rebuild per key, not one per request (no stampede).
   On a cold key the losers wait briefly for the winner's value.
4. Redis down: log it and compute from the database; never a 500.

Use L1 only for shared data (the home page); per-user data that must show its author's writes
at once uses `l1_seconds=0`.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache

from project import metrics
from project.redis import RedisUnavailable, get_redis

logger = logging.getLogger(__name__)

_MISSING = object()
_RELEASE_LOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class TwoLevelCache:
    _instances: weakref.WeakSet = weakref.WeakSet()

    @classmethod
    def instances(cls):
        return list(cls._instances)

    def __init__(
        self,
        namespace: str,
        *,
        l1_seconds: float = 3.0,
        l1_size: int = 1024,
        soft_seconds: int = 60,
        hard_seconds: int = 600,
        jitter: float = 0.1,
        lock_seconds: int = 10,
        wait_seconds: float = 10.0,
    ):
        self.namespace = namespace
        self.l1_seconds = l1_seconds
        self.soft_seconds = soft_seconds
        self.hard_seconds = hard_seconds
        self.jitter = jitter
        self.lock_seconds = lock_seconds
        self.wait_seconds = wait_seconds
        self._l1 = TTLCache(maxsize=l1_size, ttl=l1_seconds) if l1_seconds > 0 else None
        self._l1_lock = threading.Lock()
        TwoLevelCache._instances.add(self)
        self.stats = {"l1_hit": 0, "l2_hit": 0, "stale": 0, "miss": 0, "rebuild": 0, "fallback": 0}

    # -- keys

    def redis_key(self, key: str) -> str:
        return f"tlc:{self.namespace}:{{{key}}}"

    def _lock_key(self, key: str) -> str:
        return f"tlc:{self.namespace}:{{{key}}}:lock"

    def _event(self, name: str) -> None:
        self.stats[name] += 1
        metrics.cache_event(self.namespace, name)

    # -- L1

    def _l1_get(self, key: str) -> Any:
        if self._l1 is None:
            return _MISSING
        with self._l1_lock:
            return self._l1.get(key, _MISSING)

    def _l1_set(self, key: str, value: Any) -> None:
        if self._l1 is not None:
            with self._l1_lock:
                self._l1[key] = value

    def clear_local(self) -> None:
        if self._l1 is not None:
            with self._l1_lock:
                self._l1.clear()

    # -- public API

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        value = self._l1_get(key)
        if value is not _MISSING:
            self._event("l1_hit")
            return value
        try:
            value = self._l2_get_or_compute(key, compute)
        except RedisUnavailable as exc:
            logger.warning("cache %s: Redis unavailable (%s), reading from the database", self.namespace, exc)
            self._event("fallback")
            return compute()
        self._l1_set(key, value)
        return value

    def set(self, key: str, value: Any) -> None:
        """Store a freshly computed value (used by writers that refresh after commit)."""
        self._store(get_redis(), key, value)
        self._l1_set(key, value)

    def rebuild(self, key: str, compute: Callable[[], Any]) -> Any:
        """Recompute and store now, under the same single-flight lock readers use (waiting up to
        lock_seconds for a reader's refresh to finish), so a rebuild never runs beside one."""
        client = get_redis()
        token = self._try_lock(client, key)
        deadline = time.monotonic() + self.lock_seconds
        while token is None and time.monotonic() < deadline:
            time.sleep(0.05)
            token = self._try_lock(client, key)
        try:
            value = compute()
            self._event("rebuild")
            self.set(key, value)
            return value
        finally:
            if token is not None:
                self._unlock(client, key, token)

    def peek(self, key: str) -> Any:
        """The value in Redis, also when soft-expired; None when absent."""
        envelope = self._load(get_redis().get(self.redis_key(key)))
        return envelope[1] if envelope else None

    def delete(self, key: str) -> None:
        if self._l1 is not None:
            with self._l1_lock:
                self._l1.pop(key, None)
        get_redis().delete(self.redis_key(key))

    # -- internals

    def _store(self, client, key: str, value: Any) -> None:
        envelope = pickle.dumps((time.time() + self.soft_seconds, value), protocol=pickle.HIGHEST_PROTOCOL)
        ttl = int(self.hard_seconds * (1 + random.uniform(0, self.jitter)))
        client.set(self.redis_key(key), envelope, ex=max(ttl, 1))

    def _load(self, raw: bytes | None) -> tuple[float, Any] | None:
        if raw is None:
            return None
        return pickle.loads(raw)  # noqa: S301 - written only by this class, in our own Redis

    def _l2_get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        client = get_redis()
        envelope = self._load(client.get(self.redis_key(key)))
        if envelope is not None:
            soft_expiry, value = envelope
            if time.time() < soft_expiry:
                self._event("l2_hit")
                return value
            # Stale: one caller refreshes, the others serve the stale copy meanwhile.
            token = self._try_lock(client, key)
            if token is None:
                self._event("stale")
                return value
            try:
                return self._recompute(client, key, compute)
            finally:
                self._unlock(client, key, token)
        self._event("miss")
        # A cold key: exactly one caller computes while the others wait for its value. Waiters
        # also retry the lock, so a computer that died (its lock expired) is replaced by one
        # waiter, not by all of them; only when Redis gives no answer in wait_seconds does a
        # waiter compute on its own.
        deadline = time.monotonic() + self.wait_seconds
        while True:
            token = self._try_lock(client, key)
            if token is not None:
                try:
                    # Filled between our miss and our lock? Then that value is the answer.
                    envelope = self._load(client.get(self.redis_key(key)))
                    if envelope is not None:
                        return envelope[1]
                    return self._recompute(client, key, compute)
                finally:
                    self._unlock(client, key, token)
            time.sleep(0.05)
            envelope = self._load(client.get(self.redis_key(key)))
            if envelope is not None:
                return envelope[1]
            if time.monotonic() > deadline:
                self._event("fallback")
                return compute()

    def _recompute(self, client, key: str, compute: Callable[[], Any]) -> Any:
        value = compute()
        self._event("rebuild")
        self._store(client, key, value)
        return value

    def _try_lock(self, client, key: str) -> str | None:
        token = uuid.uuid4().hex
        return token if client.set(self._lock_key(key), token, nx=True, ex=self.lock_seconds) else None

    def _unlock(self, client, key: str, token: str) -> None:
        with contextlib.suppress(RedisUnavailable):
            client.eval(_RELEASE_LOCK, 1, self._lock_key(key), token)
