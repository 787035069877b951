"""redis-py connection classes for every Redis client of the project (the cache's pool, the hot
paths, the Celery broker), Django-free so settings can name them.

They make one error reply mean what it means to a caller: NOREPLICAS, a master refusing writes
because fewer replicas than min-replicas-to-write acknowledge it (it is cut off from them, and
the sentinels may already have promoted one). As an error reply it would be a 500 in a view and
an "unrecoverable error" that stops the Celery worker (kombu treats a ResponseError during an
ack as fatal). As a connection error it is what it is, Redis unavailable for writes: the
connection is dropped (so the next one asks the sentinels for the master again), the pools'
retry policy sends the command once more, then views answer 503 and kombu reconnects.
"""

import redis
import redis.sentinel


class NoReplicasError(redis.exceptions.ConnectionError):
    """The master refused a write (NOREPLICAS); the write did not happen."""


def is_no_replicas(error: BaseException) -> bool:
    """A NOREPLICAS error reply, also as raised from inside a Lua script."""
    return isinstance(error, redis.exceptions.ResponseError) and "NOREPLICAS" in str(error)


class _RefusedWritesAreUnavailable:
    # Replies after the refused one (a pipeline's) are not read, so the connection goes. Not for
    # kombu's: its event loop takes a connection closed under it for one to stop polling (the
    # worker then waits forever); it tears the whole broker connection down on the error itself.
    drop_on_refusal = True

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except redis.exceptions.ResponseError as e:
            if is_no_replicas(e):
                if self.drop_on_refusal:
                    self.disconnect()
                raise NoReplicasError(str(e)) from e
            raise


class Connection(_RefusedWritesAreUnavailable, redis.connection.Connection):
    pass


class SSLConnection(_RefusedWritesAreUnavailable, redis.connection.SSLConnection):
    pass


class SentinelManagedConnection(_RefusedWritesAreUnavailable, redis.sentinel.SentinelManagedConnection):
    pass


class BrokerSentinelManagedConnection(SentinelManagedConnection):
    drop_on_refusal = False
