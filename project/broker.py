"""The Celery broker's kombu transport in Sentinel mode: kombu's own, on the project's
connection class (project.redisconn), so a master refusing writes (NOREPLICAS) makes the worker
reconnect to the master the sentinels name instead of stopping on an "unrecoverable error".
Named by settings.CELERY_BROKER_TRANSPORT.

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

import redis
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.redis import SentinelChannel as _KombuSentinelChannel
from kombu.transport.redis import SentinelTransport as _KombuSentinelTransport

from project import redisconn


class BrokerConnectionClosedError(redis.exceptions.ConnectionError):
    """The channel's kombu connection was closed: it can no longer reach Redis."""


class SentinelChannel(_KombuSentinelChannel):
    connection_class = redisconn.BrokerSentinelManagedConnection

    def _connparams(self, asynchronous=False):
        # The transport keeps its kombu connection only while that is open (see the docstring).
        if self.connection.client is None:
            raise BrokerConnectionClosedError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class SentinelTransport(_KombuSentinelTransport):
    Channel = SentinelChannel


TRANSPORT_ALIASES["sentinel"] = f"{__name__}:SentinelTransport"
