"""Redis access for the whole project: one client, command counting, Lua scripts from files.

Every Lua script touches keys of one hash slot only (keys share a `{tag}`), so the same code
runs on Redis Cluster.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import redis
from django_redis import get_redis_connection
from redis.commands.core import Script

from project import counters

# The errors that mean "Redis is not there": callers turn them into 503s or a DB fallback.
RedisUnavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


CountingConnection = counters.CountingConnection  # named in settings.CACHES


def get_redis() -> redis.Redis:
    """The raw client behind the Django cache (one connection pool per process)."""
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


# ---------------------------------------------------------------- the hot paths' own connection
#
# A command through the client checks a connection out of the pool and back in: a lock, a poll()
# for stray data, the retry wrapper and redis-py's observability hooks. Measured on the 2-core
# box, that is ~60 us of the ~130 us of CPU an EVALSHA costs the web process (the grab's whole
# Redis side). A hot path sends one command and waits for its reply, so each thread keeps one
# connection of its own (same class, so the command counter still sees it; same URL, timeouts
# and health check) and talks to it directly through redis-py's Connection API.


class _Pinned(threading.local):
    conn = None
    pool = None
    pid = 0


_pinned = _Pinned()


def _pinned_connection():
    pinned = _pinned
    pool = get_redis().connection_pool
    # First use, a forked child (never share a socket with the parent), or a new cache client.
    if pinned.conn is None or pinned.pid != os.getpid() or pinned.pool is not pool:
        pinned.conn = pool.connection_class(**pool.connection_kwargs)
        pinned.pool = pool
        pinned.pid = os.getpid()
    return pinned.conn


def _send_and_read(conn, args):
    try:
        conn.send_command(*args)
        return conn.read_response()
    except redis.exceptions.ResponseError:
        raise  # a whole error reply: the connection is in step
    except BaseException:
        # Anything else (Redis gone, a timeout, the worker being interrupted mid-read) may leave a
        # reply unread on the socket: never reuse it.
        conn.disconnect()
        raise


def hot_command(*args):
    """Send one command on this thread's own connection and return Redis's reply as parsed,
    without the client's response callbacks (PING is b"PONG", not True). A connection Redis
    dropped (restart, idle timeout) is reopened once; a second failure raises RedisUnavailable."""
    conn = _pinned_connection()
    try:
        return _send_and_read(conn, args)
    except RedisUnavailable:
        return _send_and_read(conn, args)


def hot_script(script: Script, keys: list, args: list):
    """`script(keys=..., args=...)` on the hot connection (EVALSHA; SCRIPT LOAD after a flush)."""
    try:
        return hot_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        script.sha = get_redis().script_load(script.script)
        return hot_command("EVALSHA", script.sha, len(keys), *keys, *args)


def hot_pipeline(commands: list[tuple]) -> list:
    """Many commands in one round trip on this thread's hot connection: one packed write, then
    the replies in order, as parsed (no response callbacks). An error reply comes back as its
    exception object in its place; the other commands ran. A redis-py pipeline costs the client
    ~25 us per command (queueing, response callbacks, hooks); a drained batch sends hundreds.

    A dropped connection is reopened and the whole list sent again once, so the commands must be
    safe to repeat (cache refreshes and deletes are)."""
    commands = list(commands)  # read twice: packed, then one reply per command
    if not commands:
        return []

    def attempt(conn):
        try:
            conn.send_packed_command(conn.pack_commands(commands), check_health=True)
            replies = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.exceptions.ResponseError as e:  # a whole error reply: still in step
                    replies.append(e)
            return replies
        except BaseException:
            conn.disconnect()  # replies may be left unread: never reuse the socket
            raise

    conn = _pinned_connection()
    try:
        return attempt(conn)
    except RedisUnavailable:
        return attempt(conn)


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
