"""Redis access for the whole project: one client, command counting, Lua scripts from files.

Every Lua script touches keys of one hash slot only (keys share a `{tag}`), so the same code
runs on Redis Cluster.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
from pathlib import Path

import hiredis
import redis
from django.conf import settings
from django_redis import get_redis_connection
from redis._parsers import BaseParser
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
# connection of its own (same URL, timeouts and handshake as the cache's pool).
#
# redis-py opens it (TLS, AUTH, SELECT, client name: its `connect()`); after that the hot paths
# talk to the socket themselves: hiredis packs the command and parses the reply, one sendall()
# and as many recv() as the reply needs. redis-py's send and read path (its packer's argument
# checks, the parser's buffer and timeout juggling, the health check's clock) costs ~10 us more
# per round trip in a tight loop, and a drained batch's hundreds of commands ~25 us each to pack
# (`python -m loadtest.inproc` and `python -m loadtest.drainbench` show both).


class HotConnection:
    """One thread's connection for the hot paths. Every command is counted like the pool's."""

    def __init__(self, pool):
        self.pool = pool
        self.generation = _fork_generation
        self.conn = pool.connection_class(**pool.connection_kwargs)
        self.sock = None
        self.reader = None

    def _open(self):
        self.conn.connect()  # redis-py's handshake; a failure raises its ConnectionError
        self.sock = self.conn._sock  # noqa: SLF001 - the connected socket (redis-py pinned in requirements)
        self.reader = hiredis.Reader(replyError=BaseParser.parse_error)
        _kernel_timeouts(self.sock)

    def close(self):
        self.sock = self.reader = None
        self.conn.disconnect()

    def send(self, payload: bytes, commands: int = 1) -> None:
        if self.sock is None:
            self._open()
        counters.count_redis(commands)
        try:
            self.sock.sendall(payload)
        except (TimeoutError, BlockingIOError) as e:  # Python's timeout, or the kernel's (EAGAIN)
            raise redis.exceptions.TimeoutError("Timeout writing to the hot connection") from e
        except OSError as e:
            raise redis.exceptions.ConnectionError(f"Error writing to the hot connection: {e}") from e

    def read(self):
        """The next whole reply as hiredis parses it; an error reply comes back as the exception
        redis-py would raise for it (NoScriptError for NOSCRIPT, ...), not raised."""
        reply = self.reader.gets()
        while reply is False:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError) as e:  # Python's timeout, or the kernel's (EAGAIN)
                raise redis.exceptions.TimeoutError("Timeout reading from the hot connection") from e
            except OSError as e:
                raise redis.exceptions.ConnectionError(f"Error reading from the hot connection: {e}") from e
            if not data:
                raise redis.exceptions.ConnectionError("The hot connection was closed by the server")
            self.reader.feed(data)
            reply = self.reader.gets()
        return reply


def _kernel_timeouts(sock) -> None:
    """Move the socket's timeout from Python to the kernel (Linux): a Python-level timeout makes
    every send and recv a poll() first, two extra system calls per round trip; SO_RCVTIMEO and
    SO_SNDTIMEO give the same bound on a blocking socket, whose calls then fail with EAGAIN
    (BlockingIOError) when it passes. Elsewhere, or for a socket without a timeout, unchanged."""
    timeout = sock.gettimeout()
    if not timeout or not sys.platform.startswith("linux"):
        return
    whole = int(timeout)
    tv = struct.pack("ll", whole, int((timeout - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    sock.settimeout(None)


# A forked child must never use its parent's socket. Counting forks costs nothing per call;
# comparing os.getpid() would be a system call per command.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Pinned(threading.local):
    hot: HotConnection | None = None


_pinned = _Pinned()


def _pinned_connection() -> HotConnection:
    hot = _pinned.hot
    pool = get_redis().connection_pool
    # First use, a forked child (never share a socket with the parent), or a new cache client.
    if hot is None or hot.generation != _fork_generation or hot.pool is not pool:
        hot = _pinned.hot = HotConnection(pool)
    return hot


def _exchange(hot: HotConnection, payload: bytes, n: int) -> list:
    """Send the packed commands and read one reply per command. Anything but whole replies (Redis
    gone, a timeout, the worker being interrupted mid-read) may leave a reply unread on the
    socket: the connection is closed, never reused."""
    try:
        hot.send(payload, n)
        return [hot.read() for _ in range(n)]
    except BaseException:
        hot.close()
        raise


def hot_command(*args):
    """Send one command on this thread's own connection and return Redis's reply as parsed,
    without the client's response callbacks (PING is b"PONG", not True). A connection Redis
    dropped (restart, idle timeout) is reopened once; a second failure raises RedisUnavailable."""
    hot = _pinned_connection()
    payload = hiredis.pack_command(args)
    try:
        (reply,) = _exchange(hot, payload, 1)
    except RedisUnavailable:
        (reply,) = _exchange(hot, payload, 1)
    if isinstance(reply, redis.exceptions.RedisError):
        _drop_if_demoted(hot, [reply])
        raise reply  # a whole error reply: the connection is in step
    return reply


def _drop_if_demoted(hot: HotConnection, replies: list) -> None:
    """A READONLY reply: the server this connection reached is a replica now (a failover demoted
    it). Drop the connection, so the next command asks the sentinels for the new master, and
    report Redis unavailable for this one (a 503, never a 500)."""
    if any(isinstance(r, redis.exceptions.ReadOnlyError) for r in replies):
        hot.close()
        raise redis.exceptions.ConnectionError("the Redis master was demoted (READONLY); reconnecting")


def hot_script(script: Script, keys: list, args: list):
    """`script(keys=..., args=...)` on the hot connection (EVALSHA; SCRIPT LOAD after a flush)."""
    try:
        return hot_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        script.sha = get_redis().script_load(script.script)
        return hot_command("EVALSHA", script.sha, len(keys), *keys, *args)


def hot_script_replicated(script: Script, keys: list, args: list) -> tuple[object, bool]:
    """`hot_script`, followed in the same round trip by Redis's WAIT for REDIS_WAIT_REPLICAS
    replicas (at most REDIS_WAIT_TIMEOUT_MS). Returns (the script's reply, whether enough
    replicas have its writes). With REDIS_WAIT_REPLICAS = 0 it is `hot_script`, always True."""
    replicas = settings.REDIS_WAIT_REPLICAS
    if replicas <= 0:
        return hot_script(script, keys, args), True
    wait = ("WAIT", replicas, settings.REDIS_WAIT_TIMEOUT_MS)
    reply, acked = hot_pipeline([("EVALSHA", script.sha, len(keys), *keys, *args), wait])
    if isinstance(reply, redis.exceptions.NoScriptError):  # a flush, or a failover to a replica
        script.sha = get_redis().script_load(script.script)
        reply, acked = hot_pipeline([("EVALSHA", script.sha, len(keys), *keys, *args), wait])
    for r in (reply, acked):
        if isinstance(r, redis.exceptions.RedisError):
            raise r
    return reply, int(acked) >= replicas


def hot_pipeline(commands: list[tuple]) -> list:
    """Many commands in one round trip on this thread's hot connection: one packed write, then
    the replies in order, as parsed (no response callbacks). An error reply comes back as its
    exception object in its place; the other commands ran. A redis-py pipeline costs the client
    ~25 us per command (queueing, response callbacks, hooks); a drained batch sends hundreds.

    A dropped connection is reopened and the whole list sent again once, so the commands must be
    safe to repeat (cache refreshes and deletes are)."""
    packed = [hiredis.pack_command(tuple(c)) for c in commands]
    if not packed:
        return []
    payload = b"".join(packed)
    hot = _pinned_connection()
    try:
        replies = _exchange(hot, payload, len(packed))
    except RedisUnavailable:
        replies = _exchange(hot, payload, len(packed))
    _drop_if_demoted(hot, replies)
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
