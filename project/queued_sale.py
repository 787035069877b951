"""The queued-sale pipeline that flash sales and red packets share: a Lua gate takes the unit in
Redis and appends the event to the sale's reliable queue, a worker drains batches into SQL and
updates statuses and caches after commit, and reconciliation compares Redis with the database.

Each app describes its sale with one `QueuedSale` (its keys and how an event is identified) and
hands in the steps only it knows: the drain-batch handler, the reload task, the reconcile
compare and fix. Everything between those steps lives here once."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.db import transaction

from project import db_router
from project.queue import Handler, ReliableQueue, register_queue_family
from project.redis import RedisUnavailable, get_redis, hot_script_replicated, load_script
from project.tasks import kick_drain

logger = logging.getLogger(__name__)


class SaleKeys(Protocol):
    """The Redis keys of one sale kind that the pipeline itself touches."""

    # The set of loaded sale ids whose queues the drain watches.
    ACTIVE: str

    def queue(self, sale_id: int) -> str: ...

    # Exists exactly while the sale is loaded in Redis.
    def meta(self, sale_id: int) -> str: ...

    def reload_lock(self, sale_id: int) -> str: ...


@dataclass(frozen=True)
class QueuedSale:
    # The queue family's name, as the drain and the queue tools report it.
    family: str
    # The event field holding its epoch-ms time.
    time_field: str
    keys: SaleKeys
    # An event's identity in the queue (raise KeyError/TypeError/ValueError or return None to skip it).
    event_id: Callable[[dict], Hashable | None]
    # True: every loaded sale's queue is drained (flash sales are few); False: only queues holding
    # events or a consumer's batch, so thousands of idle campaigns cost a drain round nothing.
    list_idle_queues: bool = False

    @property
    def active_key(self) -> str:
        return self.keys.ACTIVE

    def queue_key(self, sale_id: int) -> str:
        return self.keys.queue(sale_id)

    @property
    def prefix(self) -> str:
        """What every queue key of this kind starts with (up to its hash tag), so tools can tell a key's family."""
        return self.queue_key(0).split("{", 1)[0] + "{"

    # ------------------------------------------------------------ the gate (hot path)

    def gate(self, script: Path, *, keys: list[str], args: list, woke_at: int) -> tuple[list, bool]:
        """One Lua call on the hot connection. Returns (reply, replicated); reply[0] == 0 means
        taken, and reply[woke_at] == 1 that the queue went from empty to non-empty, which wakes
        the drain at once instead of at its next beat."""
        reply, replicated = hot_script_replicated(load_script(script), keys=keys, args=args)
        if reply[0] == 0 and reply[woke_at] == 1:
            kick_drain()
        return reply, replicated

    def request_reload(self, sale_id: int, *, task, lock_seconds: float) -> None:
        """Ask a worker to load a live sale Redis does not hold, once per few seconds whoever
        asks (a storm on a lost sale sends one task, not one per request)."""
        try:
            if get_redis().set(self.keys.reload_lock(sale_id), 1, nx=True, ex=int(lock_seconds)):
                task.delay(sale_id)
        except Exception:  # noqa: BLE001 - the beat reloads it anyway; the buyer gets a 503 either way
            logger.warning("reload of %s %s not requested", self.family, sale_id, exc_info=True)

    def refresh_after_commit(self, sale_id: int, *, refresh: Callable[[], None], errors: tuple = ()) -> None:
        """After an admin edit commits, `refresh()` brings a loaded sale up to the row; Redis down
        (or the app's `errors`) only logs: the next load or reload reads the row anyway."""

        def run():
            try:
                refresh()
            except (RedisUnavailable, *errors) as exc:
                logger.warning("%s %s not refreshed in Redis after an edit: %s", self.family, sale_id, exc)

        transaction.on_commit(run, using="default")

    def missing(self, sale_ids: Iterable[int]) -> list[int]:
        """The sales among these that Redis does not hold (one pipeline). Raises RedisUnavailable."""
        sale_ids = list(sale_ids)
        if not sale_ids:
            return []
        pipe = get_redis().pipeline(transaction=False)
        for sid in sale_ids:
            pipe.exists(self.keys.meta(sid))
        return [sid for sid, present in zip(sale_ids, pipe.execute(), strict=True) if not present]

    # ------------------------------------------------------------ the queues and the drain

    def active_ids(self) -> list[int]:
        return sorted(int(m) for m in get_redis().smembers(self.active_key))

    def watch(self, sale_id: int) -> None:
        get_redis().sadd(self.active_key, sale_id)

    def queue_keys(self) -> list[str]:
        """The queues worth a drain round (two cheap commands per idle-skipping sale, in one
        pipeline). Empty while Redis is down: the drain has nothing to take then anyway."""
        try:
            ids = self.active_ids()
            if self.list_idle_queues or not ids:
                return [self.queue_key(sid) for sid in ids]
            pipe = get_redis().pipeline(transaction=False)
            for sid in ids:
                pipe.llen(self.queue_key(sid))
                pipe.exists(ReliableQueue(self.queue_key(sid)).consumers_key)
            flags = pipe.execute()
        except RedisUnavailable:
            return []
        return [self.queue_key(sid) for i, sid in enumerate(ids) if flags[2 * i] or flags[2 * i + 1]]

    def register(self, *, handler: Handler) -> None:
        """From AppConfig.ready(): the drain calls `handler(queue_key, events)` for each batch."""
        register_queue_family(
            self.family, keys=self.queue_keys, handler=handler, prefix=self.prefix, time_field=self.time_field
        )

    def unwatch_drained(self, sale_ids: Iterable[int]) -> None:
        """Stop watching these sales' queues where nothing is queued and no consumer holds a
        batch (a dead consumer's batch must stay watched until the reaper hands it back)."""
        for sid in sale_ids:
            if self.quiet(sid):
                get_redis().srem(self.active_key, sid)

    @staticmethod
    def recorded(*, user_ids: Iterable[int], after_commit: Iterable[Callable[[], None]] = ()) -> None:
        """Inside the drain's transaction: the users' write position first (so every refill
        after commit reads the fresh rows), then the app's status and cache updates, in order."""
        db_router.remember_writes(user_ids=set(user_ids))
        for callback in after_commit:
            transaction.on_commit(callback, using="default")

    # ------------------------------------------------------------ reconciliation

    def queued(self, sale_id: int) -> dict[Hashable, dict]:
        """Events waiting in the queue or held by a consumer, by identity. The queue is read
        before the processing lists, so an event moving from one to the other is seen at least once."""
        queue = ReliableQueue(self.queue_key(sale_id))
        client = get_redis()
        raw = list(client.lrange(queue.key, 0, -1))
        for cid in client.hkeys(queue.consumers_key):
            raw += client.lrange(queue.processing_key(cid.decode()), 0, -1)
        out: dict[Hashable, dict] = {}
        for item in raw:
            try:
                event = json.loads(item)
                key = self.event_id(event)
            except (ValueError, KeyError, TypeError):
                continue
            if key is not None:
                out[key] = event
        return out

    def requeue(self, sale_id: int, events: list[dict]) -> None:
        """Put events back for the drain (the handlers are idempotent: a re-queued event that was
        written meanwhile changes nothing)."""
        if not events:
            return
        ReliableQueue(self.queue_key(sale_id)).push(*events)
        self.watch(sale_id)
        kick_drain()

    def reconcile(
        self,
        sale_id: int,
        *,
        fix: bool,
        compare: Callable[[int], tuple[dict, object]],
        repair: Callable[[int, object, dict], None],
    ) -> dict:
        """`compare(sale_id)` returns (report, plan), plan falsy when there is nothing to fix;
        with fix, `repair(sale_id, plan, report)` applies it and the report says so."""
        report, plan = compare(sale_id)
        if fix and plan:
            repair(sale_id, plan, report)
            report["fixed"] = True
        return report

    def quiet(self, sale_id: int) -> bool:
        """Nothing queued and no consumer holding a batch of this sale."""
        client = get_redis()
        queue = ReliableQueue(self.queue_key(sale_id))
        return not client.llen(queue.key) and not client.exists(queue.consumers_key)

    def reconcile_active(
        self,
        *,
        reconcile: Callable[[int], dict],
        not_found: type[Exception] | tuple[type[Exception], ...],
        only: Callable[[list[int]], Iterable[int]] | None = None,
    ) -> list[dict]:
        """Beat: reconcile every sale whose queue the drain still watches (or those of them that
        `only` keeps); a sale deleted from the database stops being watched."""
        ids = self.active_ids()
        reports = []
        for sid in ids if only is None else only(ids):
            try:
                reports.append(reconcile(sid))
            except not_found:
                get_redis().srem(self.active_key, sid)
        return reports
