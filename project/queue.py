"""The reliable queue in front of hot writes (the Redis "reliable queue" pattern).

Producers append events to a list inside their own Lua script (so the business decision and
the enqueue are one atomic step). A consumer:

1. moves up to `batch_size` events to its own processing list and registers itself
   (`<queue>:consumers` hash, consumer id -> heartbeat time, plus an alive key with a TTL), all
   in one Lua call (one round trip, whatever the batch size),
2. hands the batch to the handler, which commits its database transaction,
3. deletes the processing list only after the handler returned (the acknowledgement; folded
   into the next take when it goes straight on to the next batch).

If the consumer dies between 1 and 3 (SIGKILL, OOM, lost host), its alive key expires and the
reaper moves the batch back to the queue for another consumer; handlers are idempotent
(`ON CONFLICT DO NOTHING`, unique ledger references), so a batch replayed after a crash has
its effect once. A handler that raises (primary down) puts the batch back at once and the
consumer stops for this round: the queue waits, nothing is lost.

During a storm each take finds only what arrived since the previous one, and every batch costs
the same fixed price (a transaction, a few statements, round trips), whatever its size. So
`drain_all` lingers: after a round that took less than a full batch it waits
`QUEUE_LINGER_MS` before the next, and batches grow with the event rate instead of staying a
handful of events each. It visits every queue once per round (one campaign's storm never holds
up another's), and stops when a round finds nothing. Events wait in Redis at most about one
linger longer; the grab or flash buy was answered long before.

All keys of one queue share the queue key's hash tag, so they live in one Redis Cluster slot.
Queues are registered by name with a function listing their keys and a handler; the Celery task
`project.tasks.drain_queues` (beat every second, plus a kick when a queue goes from empty to
non-empty) drains them, one worker at a time (a drain lease; the others' tasks return at once).
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
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError

from project import metrics
from project.redis import RedisUnavailable, get_redis, hash_tag

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


def event_ms(value) -> int | None:
    """An event's time in epoch ms, for a drain to write (e.g. `to_timestamp(ms / 1000.0)`): the
    drain's own time when the event has none, None when it is not a time a datetime can hold.
    Such a value would fail the whole batch's insert, so a handler must not pass it on."""
    if not value:
        return int(time.time() * 1000)
    try:
        ms = int(value)
        datetime.fromtimestamp(ms / 1000, tz=UTC)  # OSError or OverflowError beyond the platform's range
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return ms


# Move up to N events to the consumer's processing list and (re)register it, or, when it still
# holds a batch (a previous run of the same consumer id), hand that batch back first. ARGV[5] = 1
# acknowledges the batch held so far before taking (the handler committed it). An empty take
# deregisters the consumer: a consumer holding nothing needs no heartbeat and no reaping.
_TAKE_LUA = """
-- KEYS: queue, processing list, consumers hash, alive key
-- ARGV: consumer id, now (s), alive ttl (ms), batch size (0 = acknowledge only), acknowledge (0/1)
if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
local n = tonumber(ARGV[4])
if #items == 0 and n > 0 then
  items = redis.call('LRANGE', KEYS[1], 0, n - 1)
  for i = 1, #items, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
  end
  if #items > 0 then redis.call('LTRIM', KEYS[1], #items, -1) end
end
if #items > 0 then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
else
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[4])
end
return items
"""

# Put a processing list back at the head of the queue, keeping its order, and deregister the
# consumer. ARGV[2] = 1 (the reaper): only when the consumer's alive key is gone (-1 otherwise).
_REQUEUE_LUA = """
-- KEYS: queue, processing list, consumers hash, alive key   ARGV: consumer id, only if dead (0/1)
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local n = 0
while redis.call('LMOVE', KEYS[2], KEYS[1], 'RIGHT', 'LEFT') do n = n + 1 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4])
return n
"""

# Extend (ARGV[2] ms) or release (ARGV[2] = 0) a lease, only if it is still ours (it may have
# expired and been taken by another).
_LEASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

_registered: dict[str, object] = {}


def _script(source: str):
    """Register an inline Lua script once per process (EVALSHA, reloaded after a flush)."""
    script = _registered.get(source)
    if script is None:
        script = _registered[source] = get_redis().register_script(source)
    return script


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

    def consumer_keys(self, consumer_id: str) -> list[str]:
        return [self.key, self.processing_key(consumer_id), self.consumers_key, self.alive_key(consumer_id)]

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
        linger: float = 0.0,
    ) -> int:
        """Drain until the queue is empty (or the limits hit). Returns events handled. With
        `linger` (seconds), a batch smaller than `batch_size` is followed by that long a wait
        before the next take, and the drain ends when a take after such a wait finds nothing."""
        consumer = Consumer(self, handler, consumer_id or new_consumer_id())
        started = time.monotonic()
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                if time_budget is not None and time.monotonic() - started > time_budget:
                    break
                took_at = time.monotonic()
                n = consumer.step()
                if not n:
                    break
                batches += 1
                if n < self.batch_size and linger > 0:
                    consumer.ack()
                    time.sleep(max(0.0, linger - (time.monotonic() - took_at)))
        finally:
            consumer.close()
        return consumer.handled

    # -- reaper

    def reap(self) -> int:
        """Hand the batches of dead consumers back to the queue. Returns events requeued."""
        client = get_redis()
        requeued = 0
        for raw_cid in client.hkeys(self.consumers_key):
            cid = raw_cid.decode()
            n = _script(_REQUEUE_LUA)(keys=self.consumer_keys(cid), args=[cid, 1], client=client)
            if n > 0:
                logger.warning("queue %s: consumer %s is gone, %d events requeued", self.key, cid, n)
                metrics.queue_event(self.name, "reaped", n)
                requeued += n
        return requeued


class Consumer:
    """One consumer on one queue: `step()` acknowledges the batch it holds (if any), takes the
    next and hands it to the handler, in one Redis round trip plus the handler's work."""

    def __init__(self, queue: ReliableQueue, handler: Handler, consumer_id: str):
        self.queue = queue
        self.handler = handler
        self.cid = consumer_id
        self.keys = queue.consumer_keys(consumer_id)
        self.ttl_ms = settings.QUEUE_CONSUMER_TTL_SECONDS * 1000
        self.holding = False  # a handled batch sits in the processing list, not acknowledged yet
        self.handled = 0  # events handled so far
        self.batches = 0

    def _take(self, n: int) -> list[bytes]:
        items = _script(_TAKE_LUA)(
            keys=self.keys, args=[self.cid, int(time.time()), self.ttl_ms, n, int(self.holding)], client=get_redis()
        )
        self.holding = False
        return items

    def step(self) -> int:
        """Take and handle one batch. Returns how many events it took (0: the queue is empty).
        A handler that raises gets its batch put back at the head of the queue; the error
        propagates."""
        raw = self._take(self.queue.batch_size)
        if not raw:
            return 0
        events = []
        dead = []
        for item in raw:
            event = _decode(item)
            if event is None:
                dead.append(item)
            else:
                events.append(event)
        if dead:
            pipe = get_redis().pipeline(transaction=False)
            pipe.rpush(self.queue.dead_key, *dead)
            pipe.sadd(DEAD_INDEX_KEY, self.queue.key)
            pipe.execute()
            metrics.queue_event(self.queue.name, "dead", len(dead))
            for item in dead:
                logger.error(
                    "queue %s: undecodable event moved to %s: %r", self.queue.key, self.queue.dead_key, item[:200]
                )
        try:
            if events:
                self.handler(self.queue.key, events)
        except Exception as exc:
            if isinstance(exc, DATABASE_DOWN):  # one line a round, not a traceback a second
                logger.warning("queue %s: database unavailable (%s); %d events go back", self.queue.key, exc, len(raw))
            else:
                logger.exception("queue %s: handler failed, %d events go back to the queue", self.queue.key, len(raw))
            _script(_REQUEUE_LUA)(keys=self.keys, args=[self.cid, 0], client=get_redis())
            metrics.queue_event(self.queue.name, "requeued", len(raw))
            raise
        self.holding = True
        self.handled += len(events)
        self.batches += 1
        metrics.queue_event(self.queue.name, "handled", len(events))
        return len(raw)

    def ack(self) -> None:
        """Acknowledge the batch held (delete the processing list) and deregister."""
        if self.holding:
            self._take(0)

    def close(self) -> None:
        try:
            self.ack()
        except RedisUnavailable:  # the batch stays in the processing list; the reaper replays it
            logger.warning("queue %s: could not acknowledge a handled batch; it will be replayed", self.queue.key)


def new_consumer_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class QueueFamily:
    name: str
    list_keys: Callable[[], Iterable[str]]
    handler: Handler
    # What every queue key of the family starts with, so tools can tell a key's family.
    prefix: str = ""
    # The event field holding its epoch-ms time, so tools can tell how long the oldest event waits.
    time_field: str = ""


_families: dict[str, QueueFamily] = {}


def register_queue_family(
    name: str, *, keys: Callable[[], Iterable[str]], handler: Handler, prefix: str = "", time_field: str = ""
) -> None:
    """Apps call this from AppConfig.ready(): `keys()` lists the queue keys to drain now."""
    _families[name] = QueueFamily(name=name, list_keys=keys, handler=handler, prefix=prefix, time_field=time_field)


def families() -> dict[str, QueueFamily]:
    return dict(_families)


class DrainReport(dict):
    """Events handled per family, plus how the round ended: `skipped` (another worker holds the
    drain lease), `unfinished` (the time budget ran out while events were still arriving)."""

    skipped = False
    unfinished = False
    backing_off = False  # the database is unreachable: the drains pause (DB_BACKOFF_KEY)


DRAIN_LEASE_KEY = "queue:drain:lease"
# While the database is unreachable (a failover, an outage) the drains back off: each failed
# round doubles the pause before the next (1, 2, 4 ... DB_BACKOFF_MAX_SECONDS); the first round
# that writes again ends it. The events wait in their queues meanwhile.
DATABASE_DOWN = (OperationalError, InterfaceError)
DB_BACKOFF_KEY = "queue:drain:db-backoff"
DB_BACKOFF_ROUNDS_KEY = "queue:drain:db-backoff:rounds"
DB_BACKOFF_MAX_SECONDS = 16
# The drain lease lives this long unless its holder extends it (at least every second): a worker
# killed while draining holds the others off for at most this long.
DRAIN_LEASE_SECONDS = 3.0
# How often a long drain round looks for queues that became non-empty since it started.
KEYS_REFRESH_SECONDS = 1.0


def linger_seconds() -> float:
    return max(0.0, settings.QUEUE_LINGER_MS / 1000)


def drain_all(*, time_budget: float = 5.0, linger: float | None = None, exclusive: bool = False) -> DrainReport:
    """Reap and drain every registered queue. Returns events handled per family.

    Round-robin: each round takes one batch from every queue that has events; a round in which
    no queue had a full batch is followed by `linger` seconds (default `QUEUE_LINGER_MS`) of
    waiting, so the next round's batches are bigger; the drain ends when a round finds nothing
    (after a last look for queues that appeared meanwhile) or the time budget is spent.

    `exclusive`: first take the drain lease (one draining worker is enough, and two would halve
    each other's batches); when another holds it, return at once with `skipped` set. The lease
    only saves work: if it expires under a slow handler, two consumers on one queue are still
    correct (that is what the processing lists are for)."""
    linger = linger_seconds() if linger is None else max(0.0, linger)
    report = DrainReport({name: 0 for name in families()})
    started = time.monotonic()
    cid = new_consumer_id()
    lease_ms = int(DRAIN_LEASE_SECONDS * 1000)
    if exclusive and get_redis().exists(DB_BACKOFF_KEY):
        report.skipped = report.backing_off = True
        return report
    if exclusive and not get_redis().set(DRAIN_LEASE_KEY, cid, nx=True, px=lease_ms):
        report.skipped = True
        return report
    leased_at = started
    consumers: dict[str, Consumer] = {}
    stopped: set[str] = set()  # queues whose handler or Redis failed: left for the next round
    listed_at: float | None = None
    try:
        while True:
            round_started = time.monotonic()
            if round_started - started > time_budget:
                break
            if exclusive and round_started - leased_at >= DRAIN_LEASE_SECONDS / 3:
                leased_at = round_started
                _script(_LEASE_LUA)(keys=[DRAIN_LEASE_KEY], args=[cid, lease_ms], client=get_redis())
            listed = listed_at is None or round_started - listed_at >= KEYS_REFRESH_SECONDS
            if listed:
                listed_at = round_started
                _add_consumers(consumers, stopped, cid)
            took = 0
            full = False
            for key, consumer in consumers.items():
                if key in stopped or time.monotonic() - started > time_budget:
                    continue
                before = consumer.handled
                try:
                    n = consumer.step()
                except DATABASE_DOWN:
                    _back_off()
                    report.backing_off = True
                    return report  # every queue writes to the same database: stop the round
                except Exception:  # noqa: BLE001 - logged in step; the other queues still drain
                    logger.warning("queue %s: drain stopped for this round", key)
                    stopped.add(key)
                    continue
                finally:
                    report[consumer.queue.name] += consumer.handled - before
                took += n
                full = full or n >= consumer.queue.batch_size
            report.unfinished = bool(took)
            if not took:
                if listed:
                    break
                listed_at = None  # before stopping, one more look for queues that appeared meanwhile
                continue
            if not full and linger > 0:
                for consumer in consumers.values():
                    consumer.ack()
                now = time.monotonic()
                time.sleep(max(0.0, min(linger - (now - round_started), time_budget - (now - started))))
    finally:
        for consumer in consumers.values():
            consumer.close()
        if sum(report.values()) and not report.backing_off:
            _end_back_off()
        if exclusive:
            try:
                _script(_LEASE_LUA)(keys=[DRAIN_LEASE_KEY], args=[cid, 0], client=get_redis())
            except RedisUnavailable:
                logger.warning("could not release the drain lease; it expires in %d ms", lease_ms)
    return report


def _back_off() -> None:
    client = get_redis()
    rounds = client.incr(DB_BACKOFF_ROUNDS_KEY)
    client.expire(DB_BACKOFF_ROUNDS_KEY, DB_BACKOFF_MAX_SECONDS * 4)
    pause = min(DB_BACKOFF_MAX_SECONDS, 2 ** (rounds - 1))
    client.set(DB_BACKOFF_KEY, rounds, ex=pause)
    logger.warning("queue drains: database unavailable, next attempt in %d s (failed round %d)", pause, rounds)


def _end_back_off() -> None:
    try:
        if get_redis().delete(DB_BACKOFF_ROUNDS_KEY, DB_BACKOFF_KEY):
            logger.warning("queue drains: the database answers again, draining")
    except RedisUnavailable:
        pass


def _add_consumers(consumers: dict[str, Consumer], stopped: set[str], cid: str) -> None:
    """Consumers for the queues that have events now (reaping each queue's dead consumers first)."""
    for family in families().values():
        try:
            keys = list(family.list_keys())
        except Exception:  # noqa: BLE001 - one family's listing failing leaves the others draining
            logger.exception("queue family %s: could not list its queues", family.name)
            continue
        for key in keys:
            if key in consumers or key in stopped:
                continue
            queue = ReliableQueue(key, name=family.name)
            try:
                queue.reap()
            except Exception:  # noqa: BLE001  one queue's failure must not stop the others' drain
                logger.warning("queue %s: reaper failed; drain stopped for this round", key, exc_info=True)
                stopped.add(key)
                continue
            consumers[key] = Consumer(queue, family.handler, cid)


# ---------------------------------------------------------------- dead letters

# Queues that have (had) dead letters, so tools find them without a SCAN of the keyspace.
DEAD_INDEX_KEY = "queue:dead:index"

# Move every dead letter back to the tail of its queue in one step (the keys share a slot).
_DEAD_REPLAY_LUA = """
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
return n
"""


def dead_queues() -> list[str]:
    """Queue keys holding dead letters now (the index forgets queues whose letters are gone)."""
    client = get_redis()
    keys = sorted(k.decode() for k in client.smembers(DEAD_INDEX_KEY))
    if not keys:
        return []
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(f"{key}:dead")
    counts = pipe.execute()
    empty = [k for k, n in zip(keys, counts, strict=True) if not n]
    if empty:
        client.srem(DEAD_INDEX_KEY, *empty)
    return [k for k, n in zip(keys, counts, strict=True) if n]


def dead_letters(queue_key: str, *, limit: int = 100) -> tuple[int, list[bytes]]:
    """(how many dead letters the queue holds, the first `limit` of them)."""
    queue = ReliableQueue(queue_key)
    pipe = get_redis().pipeline(transaction=False)
    pipe.llen(queue.dead_key)
    pipe.lrange(queue.dead_key, 0, max(0, limit - 1))
    n, items = pipe.execute()
    return int(n), list(items)


def dead_replay(queue_key: str) -> int:
    """Put the queue's dead letters back at its tail (after a fix that makes them decodable).
    Returns how many; a second call finds none."""
    queue = ReliableQueue(queue_key)
    n = int(_script(_DEAD_REPLAY_LUA)(keys=[queue.dead_key, queue.key], args=[], client=get_redis()))
    if n:
        logger.warning("queue %s: %d dead letters replayed", queue_key, n)
        metrics.queue_event(queue.name, "replayed", n)
    return n


# Move the first ARGV[1] events of a queue to its dead letters, in order, in one step.
_SET_ASIDE_LUA = """
local n = 0
for _ = 1, tonumber(ARGV[1]) do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') then break end
  n = n + 1
end
return n
"""


def dead_set_aside(queue_key: str, *, count: int = 1) -> int:
    """Move the first `count` waiting events to the dead letters (a poison event at the head
    that makes every batch fail): the rest drains; `dead_replay` puts them back after a fix.
    Returns how many were moved."""
    queue = ReliableQueue(queue_key)
    client = get_redis()
    n = int(_script(_SET_ASIDE_LUA)(keys=[queue.key, queue.dead_key], args=[max(0, count)], client=client))
    if n:
        client.sadd(DEAD_INDEX_KEY, queue.key)  # another slot than the queue's: not inside the script
        logger.warning("queue %s: %d events set aside as dead letters", queue_key, n)
        metrics.queue_event(queue.name, "dead", n)
    return n


def dead_discard(queue_key: str) -> int:
    """Drop the queue's dead letters. Returns how many; a second call finds none."""
    queue = ReliableQueue(queue_key)
    pipe = get_redis().pipeline(transaction=True)
    pipe.llen(queue.dead_key)
    pipe.delete(queue.dead_key)
    n, _ = pipe.execute()
    if n:
        logger.warning("queue %s: %d dead letters discarded", queue_key, n)
    return int(n)


def peek(queue_key: str, *, limit: int = 10) -> tuple[int, list[bytes]]:
    """(how many events wait in the queue, the first `limit` of them), without taking any."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.llen(queue_key)
    pipe.lrange(queue_key, 0, max(0, limit - 1))
    n, items = pipe.execute()
    return int(n), list(items)


def event_age_seconds(raw: bytes | None, time_field: str, *, now: float | None = None) -> float | None:
    """How long ago an encoded event was produced, from its epoch-ms `time_field` (None when
    the family names no such field or the event has no usable time)."""
    if raw is None or not time_field:
        return None
    event = _decode(raw)
    ms = event.get(time_field) if event else None
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    now = time.time() if now is None else now
    return round(max(0.0, now - ms / 1000), 3)


def reap_all(*, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Hand the batches of dead consumers on every registered queue back to their queues (what
    each drain round does first, for an operator who cannot wait for one). Events per family."""
    keys = [(name, key) for name, family_keys in queue_keys().items() for key in family_keys]
    out = {name: 0 for name in families()}
    for i, (name, key) in enumerate(keys, 1):
        out[name] = out.get(name, 0) + ReliableQueue(key, name=name).reap()
        if progress:
            progress(i, len(keys))
    return out


def consumers(queue_key: str) -> list[dict]:
    """The consumers registered on a queue: id, heartbeat age, alive (its TTL key exists) and
    how many events its processing list holds (a dead one's are what the reaper hands back)."""
    queue = ReliableQueue(queue_key)
    client = get_redis()
    registered = {k.decode(): float(v) for k, v in client.hgetall(queue.consumers_key).items()}
    if not registered:
        return []
    pipe = client.pipeline(transaction=False)
    for cid in registered:
        pipe.exists(queue.alive_key(cid))
        pipe.llen(queue.processing_key(cid))
    flags = pipe.execute()
    now = time.time()
    return [
        {
            "id": cid,
            "heartbeat_seconds_ago": round(max(0.0, now - beat), 1),
            "alive": bool(flags[2 * i]),
            "holding": int(flags[2 * i + 1]),
        }
        for i, (cid, beat) in enumerate(sorted(registered.items()))
    ]


def queue_keys() -> dict[str, list[str]]:
    """Queue keys per family: those each family lists now, plus those holding dead letters (a
    queue key names its family by its prefix, e.g. `rp:` or `flash:`, when none lists it)."""
    out: dict[str, list[str]] = {}
    for family in families().values():
        try:
            out[family.name] = sorted(set(family.list_keys()))
        except Exception:  # noqa: BLE001 - one family's listing failing leaves the others shown
            logger.exception("queue family %s: could not list its queues", family.name)
            out[family.name] = []
    listed = {k for keys in out.values() for k in keys}
    for key in dead_queues():
        if key not in listed:
            out.setdefault(family_of(key), []).append(key)
    return out


def family_of(key: str) -> str:
    """The name of the family a queue key belongs to (by its registered prefix)."""
    for family in families().values():
        if family.prefix and key.startswith(family.prefix):
            return family.name
    return "(unregistered)"


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


__all__ = [
    "ReliableQueue",
    "Consumer",
    "DrainReport",
    "register_queue_family",
    "drain_all",
    "depths",
    "encode_event",
    "hash_tag",
]


def numbers(queue_keys_: list[str], *, time_field: str = "") -> dict[str, dict]:
    """Per queue key, in two round trips whatever the number of queues: events waiting, held by
    consumers (in flight), dead letters, and how long the oldest waiting event has waited."""
    if not queue_keys_:
        return {}
    client = get_redis()
    queues = [ReliableQueue(k) for k in queue_keys_]
    pipe = client.pipeline(transaction=False)
    for q in queues:
        pipe.llen(q.key)
        pipe.llen(q.dead_key)
        pipe.hkeys(q.consumers_key)
        pipe.lindex(q.key, 0)
    raw = pipe.execute()
    now = time.time()
    held = [(i, cid.decode()) for i in range(len(queues)) for cid in raw[4 * i + 2]]
    in_flight = [0] * len(queues)
    if held:
        pipe = client.pipeline(transaction=False)
        for i, cid in held:
            pipe.llen(queues[i].processing_key(cid))
        for (i, _cid), n in zip(held, pipe.execute(), strict=True):
            in_flight[i] += int(n)
    return {
        q.key: {
            "depth": int(raw[4 * i]),
            "dead_letters": int(raw[4 * i + 1]),
            "in_flight": in_flight[i],
            "oldest_age_seconds": event_age_seconds(raw[4 * i + 3], time_field, now=now),
        }
        for i, q in enumerate(queues)
    }
