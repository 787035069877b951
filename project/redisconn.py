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

import logging
import time

import redis
import redis.sentinel

logger = logging.getLogger(__name__)


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


class HungServerError(redis.exceptions.ConnectionError):
    """Not tried: this server took no connection, or gave no reply to one, a moment ago."""


# (host, port) -> monotonic time until which this process does not try that server. Per process
# on purpose: each process learns it from its own timeout, and forgets it by itself.
_hung_until: dict[tuple, float] = {}


def hung_until(host, port) -> float | None:
    """Until when (time.monotonic) this process skips the server at host:port, if it does."""
    until = _hung_until.get((host, port))
    return until if until is not None and time.monotonic() < until else None


class HungServersFailFast:
    # A server that takes no connection (its link cut) or does not answer a new one (its process
    # frozen) would cost every request of the process a socket timeout per Redis call until the
    # sentinels move the master or it comes back: seconds per request, which nginx's 3 s hot
    # read timeout turns into whole app hosts marked down. The first connect that times out marks
    # the server for `hold_seconds`; meanwhile every connection to it fails at once (a 503 or the
    # DB fallback). Only a connect marks it: a slow reply on a live connection (BLPOP) is no sign.
    fail_fast_when_hung = True
    hold_seconds = 0.0  # off until settings.py sets it (REDIS_HUNG_HOLD_SECONDS)

    def connect_check_health(self, *args, **kwargs):
        # Sentinel-managed connections reach here with the master the sentinels name now.
        if self.fail_fast_when_hung:
            self._refuse_if_hung()
        try:
            return super().connect_check_health(*args, **kwargs)
        except redis.exceptions.TimeoutError:
            if self.fail_fast_when_hung and self.hold_seconds > 0:
                _hung_until[(self.host, self.port)] = time.monotonic() + self.hold_seconds
                logger.warning(
                    "Redis at %s:%s did not answer a new connection in time; this process skips it for %.1f s",
                    self.host, self.port, self.hold_seconds,
                )  # fmt: skip
            raise

    def send_packed_command(self, command, check_health=True):
        # Connections opened before the mark would each wait a whole read timeout first.
        if _hung_until and self.fail_fast_when_hung and self.is_connected:
            self._refuse_if_hung()
        return super().send_packed_command(command, check_health)

    def _refuse_if_hung(self) -> None:
        until = hung_until(self.host, self.port)
        if until is not None:
            self.disconnect()
            raise HungServerError(
                f"Redis at {self.host}:{self.port} did not answer a new connection in time; "
                f"not tried for {until - time.monotonic():.1f} s more"
            )


class Connection(HungServersFailFast, _RefusedWritesAreUnavailable, redis.connection.Connection):
    pass


class SSLConnection(HungServersFailFast, _RefusedWritesAreUnavailable, redis.connection.SSLConnection):
    pass


class SentinelManagedConnection(
    HungServersFailFast, _RefusedWritesAreUnavailable, redis.sentinel.SentinelManagedConnection
):
    pass


class BrokerSentinelManagedConnection(SentinelManagedConnection):
    drop_on_refusal = False
    # kombu runs its own reconnect loop with its own timeouts; its connections keep trying.
    fail_fast_when_hung = False
