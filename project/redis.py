"""Redis access for the whole project: redis-py's own clients, command counting, Lua scripts.

Every Lua script touches keys of one hash slot only (keys share a `{tag}`), so the same code
runs on Redis Cluster. The cache's client (django-redis, `get_redis`) and the hot paths' clients
share one connection pool per process, which in Sentinel mode asks the sentinels where the master
is and follows a failover by itself.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import redis
from django.conf import settings
from django_redis import get_redis_connection
from redis.commands.core import Script

from project import counters, redis_cluster

# The errors that mean "Redis is not there": callers turn them into 503s or a DB fallback.
RedisUnavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def get_redis() -> redis.Redis:
    """The client behind the Django cache (a `counters.CountingRedis` on one pool per process)."""
    return get_redis_connection("default")


_scripts: dict[str, Script] = {}
_scripts_lock = threading.Lock()


def load_script(path: str | Path) -> Script:
    """Register a `.lua` file once per process; calls use EVALSHA and reload after a flush."""
    key = str(path)
    script = _scripts.get(key)
    if script is None:
        with _scripts_lock:
            script = _scripts.get(key)
            if script is None:
                script = get_redis().register_script(Path(path).read_text())
                _scripts[key] = script
    return script


# ---------------------------------------------------------------- the hot paths' own client
#
# A command through the pooled client checks a connection out of the pool and back in (a lock,
# a poll() for stray data) on every call. A hot path sends one command and waits for its reply,
# so each thread keeps a client holding one connection of the cache's pool for itself
# (`single_connection_client`): same URL, timeouts, retry policy and Sentinel lookup. Its
# response callbacks are off, so replies come back as Redis sends them (PING is b"PONG"), which
# is what the hot paths' callers parse. Pipelines check a connection out of the pool like any
# pipeline: they carry many commands, so the checkout is a small share of their cost.


class _Pinned(threading.local):
    client: counters.CountingRedis | None = None
    generation: int = -1


_pinned = _Pinned()

# A forked child must never use its parent's connection (the pool checks the pid, but a
# single-connection client keeps its connection). Counting forks costs nothing per call;
# comparing os.getpid() would be a system call per command.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def _hot_client() -> counters.CountingRedis:
    pinned = _pinned
    client = pinned.client
    pool = get_redis().connection_pool
    # First use, a forked child, or a new cache pool (tests swap settings): a client of its own.
    if client is None or pinned.generation != _fork_generation or client.connection_pool is not pool:
        # The old client is dropped, not closed: after a fork its socket belongs to the parent,
        # and redis-py's release in the child only closes the descriptor (it checks the pid).
        client = counters.CountingRedis(connection_pool=pool, single_connection_client=True)
        client.response_callbacks = {}
        pinned.client, pinned.generation = client, _fork_generation
    return client


def _demoted() -> redis.exceptions.ConnectionError:
    return redis.exceptions.ConnectionError("the Redis master was demoted (READONLY); reconnecting")


def hot_command(*args):
    """Send one command on this thread's own connection and return Redis's reply as parsed,
    without the client's response callbacks (PING is b"PONG", not True). A connection Redis
    dropped (restart, idle timeout, a timeout) is reopened and the command sent once more (the
    pools' retry policy, settings.REDIS_RETRIES); a second failure raises RedisUnavailable."""
    if settings.REDIS_CLUSTER_NODES:  # routed by key over the cluster (project/redis_cluster.py)
        return redis_cluster.hot_command(*args)
    client = _hot_client()
    try:
        return client.execute_command(*args)
    except redis.exceptions.ReadOnlyError:
        # The server this connection reached is a replica now (a failover demoted it): drop
        # the connection, so the next command asks the sentinels for the new master, and report
        # Redis unavailable for this one (a 503, never a 500).
        client.connection.disconnect()
        raise _demoted() from None
    except redis.exceptions.ResponseError:
        raise  # a whole error reply: the connection is in step
    except BaseException:
        # Anything else (the worker's time limit firing mid-read, ...) may leave a reply unread:
        # the connection is closed, never reused. redis-py does this itself for a plain
        # connection, but a Sentinel-managed one does not disconnect on errors by default.
        client.connection.disconnect()
        raise


def hot_script(script: Script, keys: list, args: list):
    """`script(keys=..., args=...)` on the hot connection (EVALSHA; SCRIPT LOAD after a flush,
    or after a failover to a replica, which never ran SCRIPT LOAD)."""
    try:
        return hot_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        script.sha = get_redis().script_load(script.script)
        return hot_command("EVALSHA", script.sha, len(keys), *keys, *args)


def hot_script_replicated(script: Script, keys: list, args: list) -> tuple[object, bool]:
    """`hot_script`, followed in the same round trip by Redis's WAIT for REDIS_WAIT_REPLICAS
    replicas (at most REDIS_WAIT_TIMEOUT_MS). Returns (the script's reply, whether enough
    replicas have its writes). With REDIS_WAIT_REPLICAS = 0 it is `hot_script`, always True.
    A master refusing writes (NOREPLICAS: min-replicas-to-write not met) raises
    redisconn.NoReplicasError, one of RedisUnavailable: callers answer it 503."""
    replicas = settings.REDIS_WAIT_REPLICAS
    if replicas <= 0:
        return hot_script(script, keys, args), True
    if settings.REDIS_CLUSTER_NODES:  # the WAIT must reach the master of the script's slot
        return redis_cluster.hot_script_replicated(script, keys, args, replicas, settings.REDIS_WAIT_TIMEOUT_MS)
    wait = ("WAIT", replicas, settings.REDIS_WAIT_TIMEOUT_MS)
    reply, acked = hot_pipeline([("EVALSHA", script.sha, len(keys), *keys, *args), wait])
    if isinstance(reply, redis.exceptions.NoScriptError):
        script.sha = get_redis().script_load(script.script)
        reply, acked = hot_pipeline([("EVALSHA", script.sha, len(keys), *keys, *args), wait])
    for r in (reply, acked):
        if isinstance(r, redis.exceptions.RedisError):
            raise r
    return reply, int(acked) >= replicas


def hot_pipeline(commands) -> list:
    """Many commands in one round trip (a redis-py pipeline without MULTI): the replies in
    order, as parsed (no response callbacks). An error reply comes back as its exception object
    in its place (`execute(raise_on_error=False)`); the other commands ran.

    A dropped connection is reopened and the whole list sent again once (the retry policy), so
    the commands must be safe to repeat (cache refreshes and deletes are)."""
    if settings.REDIS_CLUSTER_NODES:  # one round trip per node, each command routed by its key
        return redis_cluster.hot_pipeline(commands)
    client = _hot_client()
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    if not len(pipe):
        return []
    try:
        replies = pipe.execute(raise_on_error=False)
    except redis.exceptions.RedisError:
        raise  # redis-py closed the connection (or it is in step: a whole error reply)
    except BaseException:
        # Interrupted mid-read, the connection went back to the pool with replies unread (a
        # Sentinel-managed connection does not close itself): close the pool's idle ones.
        client.connection_pool.disconnect(inuse_connections=False)
        raise
    if any(isinstance(r, redis.exceptions.ReadOnlyError) for r in replies):
        # A demoted master (see hot_command): every idle connection of the pool reaches it.
        client.connection_pool.disconnect(inuse_connections=False)
        raise _demoted()
    return replies


def hot_script_many(script: Script, calls: list[tuple[list, list]]) -> list:
    """Many calls of one script, as (keys, args), in one `hot_pipeline` round trip. After a
    script flush the calls Redis did not know are loaded and sent again."""
    calls = list(calls)
    replies = hot_pipeline([("EVALSHA", script.sha, len(k), *k, *a) for k, a in calls])
    redo = [i for i, r in enumerate(replies) if isinstance(r, redis.exceptions.NoScriptError)]
    if redo:
        script.sha = get_redis().script_load(script.script)
        again = hot_pipeline([("EVALSHA", script.sha, len(k), *k, *a) for k, a in (calls[i] for i in redo)])
        for i, r in zip(redo, again, strict=True):
            replies[i] = r
    return replies


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: the text inside the first {...}."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key
