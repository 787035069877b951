"""The Celery broker's kombu transports: kombu's own Redis and Sentinel transports with three fixes.
Named by settings.CELERY_BROKER_TRANSPORT.

An acknowledgement that does not reach Redis must not stop the worker consuming. Celery logs a
failed ack ("Couldn't ack", a connection error) and goes on, but kombu's Redis QoS frees the
message's prefetch slot only after the ack reached Redis; with prefetch 1 the consumer then never
polls again, so it never meets the broken connection that would make it reconnect, and the
worker drains nothing until restarted. That is what a hung master (SIGSTOP, a cut network) left
behind once it woke and refused the ack (NOREPLICAS), and what a Redis that stops as a task ends
leaves. Here a failed ack still frees the slot: the next poll finds the broken connection,
the consumer reconnects (to the master the sentinels name), and the message, still unacknowledged
in Redis, is delivered again after the visibility timeout (the tasks are idempotent).

In Sentinel mode the channel is also on the project's connection class (project.redisconn), so a
master refusing writes (NOREPLICAS) makes the worker reconnect to the master the sentinels name
instead of stopping on an "unrecoverable error".

It also lets a worker ride out a master lost under it. On a lost broker connection Celery
collects the kombu connection (which detaches it from the transport: `transport.client = None`)
and then closes it. A channel whose first close stopped early on the dead socket is closed again
then, and restoring its unacknowledged messages needs a new pool, which kombu builds from the
detached connection: `AttributeError: 'NoneType' object has no attribute 'hostname'` in
`_connparams`, not a connection error, so the worker exited ("Unrecoverable error", kombu#582).
Here a detached channel answers with a connection error, which Celery's cleanup ignores before it
reconnects; the messages it could not restore stay in Redis's unacked set, and the new
connection restores them after the visibility timeout.

Importing it (kombu does, to resolve CELERY_BROKER_TRANSPORT) names it for `sentinel://` URLs
too: when a connection attempt fails, kombu switches to the broker URL's next sentinel and takes
the transport from that URL's scheme again, which would put the worker back on kombu's own
SentinelTransport, without either fix, from its first reconnect on."""

import contextlib

import redis
from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.transport import redis as kombu_redis

from project import redisconn


class BrokerConnectionClosedError(redis.exceptions.ConnectionError):
    """The channel's kombu connection was closed: it can no longer reach Redis."""


class QoS(kombu_redis.QoS):
    @contextlib.contextmanager
    def _slot_freed_on_failure(self, delivery_tag):
        try:
            yield
        except self.channel.connection_errors:
            virtual.QoS.ack(self, delivery_tag)  # frees the prefetch slot; Redis still holds it unacked
            raise

    def ack(self, delivery_tag):
        with self._slot_freed_on_failure(delivery_tag):
            super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        with self._slot_freed_on_failure(delivery_tag):
            super().reject(delivery_tag, requeue=requeue)


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(kombu_redis.SentinelChannel):
    QoS = QoS
    connection_class = redisconn.BrokerSentinelManagedConnection

    def _connparams(self, asynchronous=False):
        # The transport keeps its kombu connection only while that is open (see the docstring).
        if self.connection.client is None:
            raise BrokerConnectionClosedError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


TRANSPORT_ALIASES["sentinel"] = f"{__name__}:SentinelTransport"
