"""Per-thread counters of SQL queries and Redis commands (no Django imports: settings load this).

The Redis client class below is named in CACHES (django-redis's REDIS_CLIENT_CLASS), and the hot
paths' per-thread clients are made from it, so every command the process sends through redis-py
is counted once, pipelines by the commands they carry; requests and the load harness report the
counts.
"""

import threading

import redis
from redis.client import Pipeline

_local = threading.local()


def count_sql(n: int = 1) -> None:
    _local.sql = getattr(_local, "sql", 0) + n


def count_redis(n: int = 1) -> None:
    _local.redis = getattr(_local, "redis", 0) + n


def snapshot() -> tuple[int, int]:
    """(sql queries, redis commands) counted so far on this thread."""
    return getattr(_local, "sql", 0), getattr(_local, "redis", 0)


class CountingPipeline(Pipeline):
    """A pipeline counting the commands it sends, once, when it sends them."""

    def execute(self, raise_on_error: bool = True) -> list:
        count_redis(len(self))
        return super().execute(raise_on_error)


class CountingRedis(redis.Redis):
    """redis-py's client, counting every command it sends (a retry of the same command is one)."""

    def execute_command(self, *args, **options):
        count_redis(1)
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint=None) -> CountingPipeline:
        return CountingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
