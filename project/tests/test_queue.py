import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from project.queue import ReliableQueue, drain_all, register_queue_family
from project.redis import get_redis
from project.testing import child_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def ensure_effects_table():
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS queue_test_effect (event_id text PRIMARY KEY, n int NOT NULL)")
        cur.execute("TRUNCATE queue_test_effect")


def apply_events(events):
    """An idempotent handler, as real ones are: replaying an event changes nothing."""
    with connection.cursor() as cur:
        for e in events:
            cur.execute(
                "INSERT INTO queue_test_effect (event_id, n) VALUES (%s, %s) ON CONFLICT (event_id) DO NOTHING",
                [e["id"], e["n"]],
            )


def effects():
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(n), 0) FROM queue_test_effect")
        return cur.fetchone()


def handler(_key, events):
    from django.db import transaction

    with transaction.atomic():
        apply_events(events)


def test_consume_drains_in_batches_and_acknowledges():
    ensure_effects_table()
    q = ReliableQueue("qt:{a}:events", batch_size=7)
    q.push(*[{"id": f"e{i}", "n": 1} for i in range(30)])
    assert q.consume(handler) == 30
    assert effects() == (30, 30)
    assert q.depth() == 0 and q.in_flight() == 0


def test_handler_failure_puts_the_batch_back_in_order():
    q = ReliableQueue("qt:{b}:events", batch_size=5)
    q.push(*[{"id": f"e{i}", "n": i} for i in range(8)])

    def broken(_key, events):
        raise RuntimeError("primary down")

    with pytest.raises(RuntimeError):
        q.consume(broken)
    assert q.depth() == 8 and q.in_flight() == 0
    items = get_redis().lrange(q.key, 0, -1)
    assert [int(x.split(b'"n":')[1].split(b",")[0].rstrip(b"}")) for x in items] == list(range(8))


def test_undecodable_events_go_to_the_dead_letter_list():
    ensure_effects_table()
    q = ReliableQueue("qt:{c}:events")
    get_redis().rpush(q.key, b"not json", b'{"id": "ok", "n": 5}')
    assert q.consume(handler) == 1
    assert effects() == (1, 5)
    assert get_redis().lrange(q.dead_key, 0, -1) == [b"not json"]


def test_queue_keys_must_share_a_hash_slot():
    with pytest.raises(ValueError):
        ReliableQueue("no-hash-tag")


@pytest.mark.parametrize("mode", ["before-commit", "after-commit"])
def test_consumer_killed_mid_batch_its_batch_is_reaped_and_applied_once(mode):
    ensure_effects_table()
    q = ReliableQueue("qt:{k}:events")
    q.push(*[{"id": f"e{i}", "n": 1} for i in range(120)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "project.tests.queue_consumer", q.key, mode],
        cwd=ROOT,
        env=child_env(QUEUE_CONSUMER_TTL_SECONDS=1),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("TOOK 50"), line
        assert q.in_flight() == 50 and q.depth() == 70
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # While its alive key lasts the batch is left alone; after it expires the reaper hands it on.
    time.sleep(1.3)
    assert q.reap() == 50
    assert q.depth() == 120 and q.in_flight() == 0
    assert q.consume(handler) == 120
    assert effects() == (120, 120)  # every event once, whether the dead one had committed or not


def test_drain_all_runs_registered_families():
    ensure_effects_table()
    register_queue_family("qt-family", keys=lambda: ["qt:{f1}:events", "qt:{f2}:events"], handler=handler)
    try:
        ReliableQueue("qt:{f1}:events").push({"id": "x1", "n": 2})
        ReliableQueue("qt:{f2}:events").push({"id": "x2", "n": 3})
        result = drain_all(time_budget=5)
        assert result["qt-family"] == 2
        assert effects() == (2, 5)
    finally:
        from project import queue

        queue._families.pop("qt-family", None)  # noqa: SLF001  the kernel has no unregister; the test cleans up


def test_event_ms_keeps_a_time_gives_the_drains_time_for_none_and_refuses_the_impossible():
    import time

    from project.queue import event_ms

    assert event_ms(1795000000123) == 1795000000123
    assert event_ms("1795000000123") == 1795000000123
    before = int(time.time() * 1000)
    assert before <= event_ms(None) <= int(time.time() * 1000)
    assert event_ms(10**20) is None  # beyond any datetime (OSError or OverflowError)
    assert event_ms("soon") is None
    assert event_ms([1]) is None
