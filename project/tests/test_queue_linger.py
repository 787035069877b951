"""The drain during a storm: events arriving over time are written in a few large batches (the
linger), every queue gets its turn, and one worker drains at a time (the drain lease)."""

import threading
import time

import pytest

from project import queue as kernel
from project.queue import DRAIN_LEASE_KEY, ReliableQueue, drain_all, register_queue_family
from project.redis import get_redis
from project.tests.test_queue import effects, ensure_effects_table, handler

pytestmark = pytest.mark.django_db(transaction=True)


def trickle(queue: ReliableQueue, n: int, per_second: float, prefix: str) -> threading.Thread:
    """Push n events at a steady rate from another thread, as the grab script does."""

    def run():
        for i in range(n):
            queue.push({"id": f"{prefix}{i}", "n": 1})
            time.sleep(1 / per_second)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def family():
    """A registered queue family whose handler records each batch's size, per queue."""
    batches: dict[str, list[int]] = {}
    keys: list[str] = []

    def recording(key, events):
        batches.setdefault(key, []).append(len(events))
        handler(key, events)

    register_queue_family("qt-linger", keys=lambda: [k for k in keys if get_redis().llen(k)], handler=recording)
    ensure_effects_table()
    yield keys, batches
    kernel._families.pop("qt-linger", None)  # noqa: SLF001  the kernel has no unregister; the test cleans up


def test_a_storm_arriving_over_time_is_drained_in_few_large_batches(family):
    keys, batches = family
    q = ReliableQueue("qt:{linger}:events", batch_size=500)
    keys.append(q.key)
    q.push({"id": "first", "n": 1})
    storm = trickle(q, 300, per_second=200, prefix="s")  # 1.5 s of events
    try:
        result = drain_all(time_budget=5, linger=0.25)
    finally:
        storm.join()
    # One drain round rode the whole storm: it did not stop at the first moment the queue was
    # empty, and every batch but the first waited for a linger's worth of events.
    assert result["qt-linger"] == 301
    assert effects() == (301, 301)
    sizes = batches[q.key]
    assert len(sizes) <= 12, sizes  # ~1.5 s / 0.25 s; without the linger: hundreds of tiny batches
    assert max(sizes) >= 30, sizes
    assert q.depth() == 0 and q.in_flight() == 0


def test_without_linger_the_drain_chases_the_queue_in_tiny_batches(family):
    """The contrast that shows what the linger buys (and that linger=0 turns it off)."""
    keys, batches = family
    q = ReliableQueue("qt:{nolinger}:events", batch_size=500)
    keys.append(q.key)
    storm = trickle(q, 100, per_second=200, prefix="t")
    try:
        handled = 0
        while storm.is_alive() or q.depth():
            handled += drain_all(time_budget=5, linger=0)["qt-linger"]
    finally:
        storm.join()
    handled += drain_all(time_budget=5, linger=0)["qt-linger"]
    assert handled == 100 and effects() == (100, 100)
    assert len(batches[q.key]) > 20, batches[q.key]


def test_every_queue_gets_its_turn_in_each_round(family, settings):
    settings.QUEUE_BATCH_SIZE = 50
    keys, _batches = family
    a, b = ReliableQueue("qt:{la}:events"), ReliableQueue("qt:{lb}:events")
    keys += [a.key, b.key]
    a.push(*[{"id": f"a{i}", "n": 1} for i in range(400)])
    b.push(*[{"id": f"b{i}", "n": 1} for i in range(100)])
    # A full batch means a backlog: no linger between those rounds. b is not kept waiting
    # until a's 400 events are written: its two batches come in the first two rounds.
    order: list[str] = []
    families = kernel._families  # noqa: SLF001  the test wraps a registered family's handler
    families["qt-linger"] = kernel.QueueFamily(
        "qt-linger", families["qt-linger"].list_keys, lambda key, ev: (order.append(key), handler(key, ev))
    )
    started = time.monotonic()
    assert drain_all(time_budget=5, linger=0.5)["qt-linger"] == 500
    assert order[:4] == [a.key, b.key, a.key, b.key]
    assert order.count(a.key) == 8 and order.count(b.key) == 2
    assert time.monotonic() - started < 1.0  # full batches: no linger until the backlog is gone
    assert effects() == (500, 500)


def test_a_queue_with_a_single_event_costs_one_linger_at_most(family):
    keys, _batches = family
    q = ReliableQueue("qt:{one}:events")
    keys.append(q.key)
    q.push({"id": "solo", "n": 1})
    started = time.monotonic()
    assert drain_all(time_budget=5, linger=0.2)["qt-linger"] == 1
    assert time.monotonic() - started < 1.5
    # An empty round ends the drain at once: no linger when there is nothing to wait for (a long
    # linger, so "at once" keeps a margin on a loaded box).
    started = time.monotonic()
    assert drain_all(time_budget=5, linger=2.0)["qt-linger"] == 0
    assert time.monotonic() - started < 1.0


def test_consume_lingers_too_when_asked(family):
    _keys, _batches = family
    q = ReliableQueue("qt:{cl}:events", batch_size=500)
    sizes: list[int] = []
    storm = trickle(q, 200, per_second=200, prefix="c")
    try:
        time.sleep(0.05)
        handled = q.consume(lambda k, ev: (sizes.append(len(ev)), handler(k, ev)), linger=0.25)
    finally:
        storm.join()
    handled += q.consume(handler)
    assert handled == 200 and effects() == (200, 200)
    assert len(sizes) <= 10, sizes


def test_one_worker_drains_at_a_time_and_the_lease_is_released(family):
    keys, _batches = family
    q = ReliableQueue("qt:{lease}:events")
    keys.append(q.key)
    q.push({"id": "x", "n": 1})
    client = get_redis()
    client.set(DRAIN_LEASE_KEY, "another-worker", px=3000)
    report = drain_all(time_budget=5, exclusive=True)
    assert report.skipped and report["qt-linger"] == 0 and q.depth() == 1
    client.delete(DRAIN_LEASE_KEY)
    report = drain_all(time_budget=5, exclusive=True)
    assert not report.skipped and report["qt-linger"] == 1
    assert client.get(DRAIN_LEASE_KEY) is None  # released, so the next tick is not held off
    # Without `exclusive` (tools, tests) the lease is not consulted.
    client.set(DRAIN_LEASE_KEY, "another-worker", px=3000)
    q.push({"id": "y", "n": 1})
    assert drain_all(time_budget=5)["qt-linger"] == 1


def test_a_killed_lease_holder_holds_the_others_off_for_seconds_only(family):
    keys, _batches = family
    q = ReliableQueue("qt:{stale}:events")
    keys.append(q.key)
    q.push({"id": "z", "n": 1})
    # What a SIGKILLed drain leaves behind: a lease nobody extends.
    get_redis().set(DRAIN_LEASE_KEY, "dead-worker", px=int(kernel.DRAIN_LEASE_SECONDS * 1000))
    deadline = time.monotonic() + kernel.DRAIN_LEASE_SECONDS + 2
    while (report := drain_all(time_budget=5, exclusive=True)).skipped:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert report["qt-linger"] == 1


def test_a_take_is_one_round_trip_whatever_the_batch_size():
    """Taking a batch and registering the consumer is one Lua call (it used to be a heartbeat,
    an LRANGE and a MULTI of one LMOVE per event slot: 500 commands for a batch of 3)."""
    from project import counters

    ensure_effects_table()
    q = ReliableQueue("qt:{rt}:events", batch_size=500)
    q.push(*[{"id": f"r{i}", "n": 1} for i in range(300)])
    consumer = kernel.Consumer(q, handler, "rt-consumer")
    before = counters.snapshot()[1]
    assert consumer.step() == 300
    assert counters.snapshot()[1] - before <= 3  # EVALSHA (plus SCRIPT LOAD after a script flush)
    assert q.in_flight() == 300  # handled and held until acknowledged
    consumer.close()
    assert q.in_flight() == 0 and q.depth() == 0 and effects() == (300, 300)
    assert get_redis().hlen(q.consumers_key) == 0
