"""Per-thread counters of SQL queries and Redis commands (no Django imports: settings load this).

The Redis connection class below is named in CACHES, so every command the process sends
through the cache's pool is counted; requests and the load harness report the counts.
"""

import threading

import redis
import redis.sentinel

_local = threading.local()


def count_sql(n: int = 1) -> None:
    _local.sql = getattr(_local, "sql", 0) + n


def count_redis(n: int = 1) -> None:
    _local.redis = getattr(_local, "redis", 0) + n


def snapshot() -> tuple[int, int]:
    """(sql queries, redis commands) counted so far on this thread."""
    return getattr(_local, "sql", 0), getattr(_local, "redis", 0)


class _Counting:
    """Counts every command a connection sends (mixed into redis-py's connection classes)."""

    def send_command(self, *args, **kwargs):
        count_redis(1)
        return super().send_command(*args, **kwargs)

    def pack_commands(self, commands):
        commands = list(commands)
        count_redis(len(commands))
        return super().pack_commands(commands)


class CountingConnection(_Counting, redis.connection.Connection):
    pass


class CountingSentinelConnection(_Counting, redis.sentinel.SentinelManagedConnection):
    """The same counting for a pool that asks Sentinel where the master is (REDIS_SENTINELS)."""
