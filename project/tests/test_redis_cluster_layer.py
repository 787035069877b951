"""The Redis layer on a real Redis Cluster (SURGE_TEST_REDIS_MODE=cluster, `make test-redis-modes`):
multi-key work over keys of many slots goes slot by slot, the hot paths' replies are raw and in
order, the WAIT after a script reaches the master of the script's slot, and a promoted replica's
missing scripts are loaded again. Skipped on the other modes (their clients are tested by
test_hot_redis.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from project import counters
from project.redis import get_redis, hot_command, hot_pipeline, hot_script_many, hot_script_replicated, load_script

pytestmark = pytest.mark.cluster

SCRIPT = Path(__file__).parent / "cluster_set.lua"


@pytest.fixture(autouse=True)
def _cluster_only():
    if not settings.REDIS_CLUSTER_NODES:
        pytest.skip("needs the data plane on a Redis Cluster (SURGE_TEST_REDIS_MODE=cluster)")


def _slots(keys) -> set[int]:
    return {redis.cluster.key_slot(k.encode()) for k in keys}


def test_the_cache_reads_writes_and_deletes_many_keys_across_slots():
    values = {f"many:{i}": i for i in range(50)}
    assert len(_slots(cache.make_key(k) for k in values)) > 10  # really many slots, on every master
    cache.set_many(values, timeout=60)
    assert cache.get_many([*values, "many:missing"]) == values
    cache.delete_many(list(values)[:25])
    assert cache.get_many(list(values)) == dict(list(values.items())[25:])
    cache.clear()
    assert cache.get_many(list(values)) == {}


def test_a_hot_pipeline_over_many_slots_answers_in_order_with_errors_in_place():
    keys = [f"hp:{{{i}}}" for i in range(40)]
    replies = hot_pipeline([("SET", k, i) for i, k in enumerate(keys)] + [("HSET", keys[3], "f", 1)])
    assert replies[:40] == [b"OK"] * 40
    assert isinstance(replies[40], redis.exceptions.ResponseError)  # WRONGTYPE, in its place
    assert hot_pipeline([("GET", k) for k in keys]) == [str(i).encode() for i in range(40)]
    assert hot_command("GET", keys[7]) == b"7"  # raw: bytes, as on a single node


def test_the_wait_after_a_script_counts_the_replicas_of_the_slots_master():
    script = load_script(SCRIPT)
    for tag in range(12):  # tags on every master
        reply, replicated = hot_script_replicated(script, keys=[f"w:{{{tag}}}:a"], args=["v"])
        assert reply == b"v" and replicated


def test_scripts_a_master_does_not_know_are_loaded_again():
    """A promoted replica never ran SCRIPT LOAD: the same as a flushed script cache."""
    script = load_script(SCRIPT)
    hot_script_replicated(script, keys=["ns:{1}:a"], args=["1"])
    get_redis().script_flush()  # on every master
    assert hot_script_replicated(script, keys=["ns:{2}:a"], args=["2"]) == (b"2", True)
    get_redis().script_flush()
    calls = [([f"ns:{{{i}}}:a"], [str(i)]) for i in range(10)]
    assert hot_script_many(script, calls) == [str(i).encode() for i in range(10)]


def test_every_command_to_the_cluster_is_counted():
    hot_command("GET", "count:{1}")  # connections and the slot map are in place
    before = counters.snapshot()[1]
    hot_command("GET", "count:{1}")
    hot_pipeline([("GET", f"count:{{{i}}}") for i in range(6)])
    cache.get("count:cache")
    assert counters.snapshot()[1] - before == 1 + 6 + 1
