"""The Celery broker's kombu transport in Sentinel mode: kombu's own, on the project's
connection class (project.redisconn), so a master refusing writes (NOREPLICAS) makes the worker
reconnect to the master the sentinels name instead of stopping on an "unrecoverable error".
Named by settings.CELERY_BROKER_TRANSPORT."""

from kombu.transport.redis import SentinelChannel as _KombuSentinelChannel
from kombu.transport.redis import SentinelTransport as _KombuSentinelTransport

from project import redisconn


class SentinelChannel(_KombuSentinelChannel):
    connection_class = redisconn.BrokerSentinelManagedConnection


class SentinelTransport(_KombuSentinelTransport):
    Channel = SentinelChannel
