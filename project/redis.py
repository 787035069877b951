"""Redis access for the whole project: one client, command counting, Lua scripts from files.

Every Lua script touches keys of one hash slot only (keys share a `{tag}`), so the same code
runs on Redis Cluster.
"""

from __future__ import annotations

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


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: the text inside the first {...}."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key
