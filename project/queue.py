"""The reliable queue in front of hot writes (the Redis "reliable queue" pattern).

Producers append events to a list inside their own Lua script (so the business decision and
the enqueue are one atomic step). A consumer:

1. registers itself (`<queue>:consumers` hash, consumer id -> heartbeat time) and keeps an
   alive key with a TTL,
2. moves up to `batch_size` events to its own processing list with LMOVE (one MULTI of LMOVEs),
3. hands the batch to the handler, which commits its database transaction,
4. deletes the processing list only after the handler returned.

If the consumer dies between 2 and 4 (SIGKILL, OOM, lost host), its alive key expires and the
reaper moves the batch back to the queue for another consumer; handlers are idempotent
(`ON CONFLICT DO NOTHING`, unique ledger references), so a batch replayed after a crash has
its effect once. A handler that raises (primary down) puts the batch back at once and the
consumer stops for this round: the queue waits, nothing is lost.

All keys of one queue share the queue key's hash tag, so they live in one Redis Cluster slot.
Queues are registered by name with a function listing their keys and a handler; the Celery task
`project.tasks.drain_queues` (beat every second, plus a kick when a queue goes from empty to
non-empty) drains them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings

from project import metrics
from project.redis import get_redis, hash_tag

logger = logging.getLogger(__name__)

Handler = Callable[[str, list[dict]], None]


def _decode(raw: bytes) -> dict | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def encode_event(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"), sort_keys=True)


class ReliableQueue:
    def __init__(self, key: str, *, name: str = "", batch_size: int | None = None):
        if "{" not in key:
            raise ValueError(f"queue key {key!r} needs a {{hash tag}} so its keys share a slot")
        self.key = key
        self.name = name or key
        self.batch_size = batch_size or settings.QUEUE_BATCH_SIZE
        self.consumers_key = f"{key}:consumers"
        self.dead_key = f"{key}:dead"

    def processing_key(self, consumer_id: str) -> str:
        return f"{self.key}:proc:{consumer_id}"

    def alive_key(self, consumer_id: str) -> str:
        return f"{self.key}:alive:{consumer_id}"

    # -- producer side (tests and tools; hot producers push inside their Lua scripts)

    def push(self, *events: dict) -> int:
        return get_redis().rpush(self.key, *[encode_event(e) for e in events])

    def depth(self) -> int:
        return get_redis().llen(self.key)

    def in_flight(self) -> int:
        client = get_redis()
        ids = client.hkeys(self.consumers_key)
        if not ids:
            return 0
        pipe = client.pipeline(transaction=False)
        for cid in ids:
            pipe.llen(self.processing_key(cid.decode()))
        return sum(pipe.execute())

    # -- consumer side

    def consume(
        self,
        handler: Handler,
        *,
        consumer_id: str | None = None,
        max_batches: int | None = None,
        time_budget: float | None = None,
    ) -> int:
        """Drain until the queue is empty (or the limits hit). Returns events handled."""
        cid = consumer_id or new_consumer_id()
        client = get_redis()
        proc = self.processing_key(cid)
        ttl = settings.QUEUE_CONSUMER_TTL_SECONDS
        handled = 0
        batches = 0
        started = time.monotonic()
        self._heartbeat(client, cid, ttl)
        try:
            while max_batches is None or batches < max_batches:
                if time_budget is not None and time.monotonic() - started > time_budget:
                    break
                # Left over from a previous run of this same consumer id: finish it first.
                raw = client.lrange(proc, 0, -1)
                if not raw:
                    raw = self._take_batch(client, proc)
                if not raw:
                    break
                self._heartbeat(client, cid, ttl)
                events = []
                for item in raw:
                    event = _decode(item)
                    if event is None:
                        client.rpush(self.dead_key, item)
                        metrics.queue_event(self.name, "dead")
                        logger.error("queue %s: undecodable event moved to %s: %r", self.key, self.dead_key, item[:200])
                    else:
                        events.append(event)
                try:
                    if events:
                        handler(self.key, events)
                except Exception:
                    logger.exception("queue %s: handler failed, %d events go back to the queue", self.key, len(raw))
                    self._requeue(client, proc)
                    metrics.queue_event(self.name, "requeued", len(raw))
                    raise
                client.delete(proc)
                handled += len(events)
                batches += 1
                metrics.queue_event(self.name, "handled", len(events))
        finally:
            client.hdel(self.consumers_key, cid)
            client.delete(self.alive_key(cid))
        return handled

    def _take_batch(self, client, proc: str) -> list[bytes]:
        pipe = client.pipeline(transaction=True)
        for _ in range(self.batch_size):
            pipe.lmove(self.key, proc, "LEFT", "RIGHT")
        moved = [item for item in pipe.execute() if item is not None]
        return moved

    def _requeue(self, client, proc: str) -> int:
        """Put a processing list back at the head of the queue, keeping its order."""
        n = 0
        while client.lmove(proc, self.key, "RIGHT", "LEFT") is not None:
            n += 1
        return n

    def _heartbeat(self, client, cid: str, ttl: int) -> None:
        pipe = client.pipeline(transaction=False)
        pipe.hset(self.consumers_key, cid, int(time.time()))
        pipe.set(self.alive_key(cid), 1, ex=ttl)
        pipe.execute()

    # -- reaper

    def reap(self) -> int:
        """Hand the batches of dead consumers back to the queue. Returns events requeued."""
        client = get_redis()
        requeued = 0
        for raw_cid in client.hkeys(self.consumers_key):
            cid = raw_cid.decode()
            if client.exists(self.alive_key(cid)):
                continue
            n = self._requeue(client, self.processing_key(cid))
            client.hdel(self.consumers_key, cid)
            if n:
                logger.warning("queue %s: consumer %s is gone, %d events requeued", self.key, cid, n)
                metrics.queue_event(self.name, "reaped", n)
            requeued += n
        return requeued


def new_consumer_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class QueueFamily:
    name: str
    list_keys: Callable[[], Iterable[str]]
    handler: Handler


_families: dict[str, QueueFamily] = {}


def register_queue_family(name: str, *, keys: Callable[[], Iterable[str]], handler: Handler) -> None:
    """Apps call this from AppConfig.ready(): `keys()` lists the queue keys to drain now."""
    _families[name] = QueueFamily(name=name, list_keys=keys, handler=handler)


def families() -> dict[str, QueueFamily]:
    return dict(_families)


def drain_all(*, time_budget: float = 5.0) -> dict[str, int]:
    """Reap and drain every registered queue. Returns events handled per family."""
    results: dict[str, int] = {}
    started = time.monotonic()
    for family in families().values():
        total = 0
        for key in family.list_keys():
            queue = ReliableQueue(key, name=family.name)
            remaining = time_budget - (time.monotonic() - started)
            if remaining <= 0:
                break
            try:
                queue.reap()
                total += queue.consume(family.handler, time_budget=remaining)
            except Exception:  # noqa: BLE001 - logged in consume; the other queues still drain
                logger.warning("queue %s: drain stopped for this round", key)
        results[family.name] = total
    return results


LAST_DRAIN_KEY = "queue:last_drain"


def mark_drained() -> None:
    """Record when a drain round finished, so /readyz can tell whether anything drains."""
    get_redis().set(LAST_DRAIN_KEY, f"{time.time():.3f}", ex=3600)


def seconds_since_drain() -> float | None:
    raw = get_redis().get(LAST_DRAIN_KEY)
    return None if raw is None else max(0.0, time.time() - float(raw))


def depths() -> dict[str, int]:
    out = {}
    client = get_redis()
    for family in families().values():
        keys = list(family.list_keys())
        if not keys:
            out[family.name] = 0
            continue
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.llen(key)
        out[family.name] = sum(pipe.execute())
    return out


__all__ = ["ReliableQueue", "register_queue_family", "drain_all", "depths", "encode_event", "hash_tag"]
