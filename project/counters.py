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


class NoReplicasError(redis.exceptions.ConnectionError):
    """The master refuses writes: fewer replicas than min-replicas-to-write are in sync (it is
    cut off from them, and a failover may already have promoted one). To the caller that is Redis
    unavailable (a 503 or a DB fallback), never a 500: the write did not happen."""


def is_no_replicas(error: Exception) -> bool:
    """A NOREPLICAS error reply, also as raised from inside a Lua script."""
    return isinstance(error, redis.exceptions.ResponseError) and "NOREPLICAS" in str(error)


class CountingPipeline(Pipeline):
    """A pipeline counting the commands it sends, once, when it sends them."""

    def execute(self, raise_on_error: bool = True) -> list:
        count_redis(len(self))
        try:
            return super().execute(raise_on_error)
        except redis.exceptions.ResponseError as e:
            if is_no_replicas(e):
                raise NoReplicasError(str(e)) from e
            raise


class CountingRedis(redis.Redis):
    """redis-py's client, counting every command it sends (a retry of the same command is one)."""

    def execute_command(self, *args, **options):
        count_redis(1)
        try:
            return super().execute_command(*args, **options)
        except redis.exceptions.ResponseError as e:
            if is_no_replicas(e):
                raise NoReplicasError(str(e)) from e
            raise

    def pipeline(self, transaction: bool = True, shard_hint=None) -> CountingPipeline:
        return CountingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
