"""The project's broker transports (project.broker): the Sentinel one stays the project's across
kombu's failover switches (no Redis needed: a kombu connection resolves its transport without
connecting); an ack that cannot reach Redis does not keep its prefetch slot (the dev stack's
Redis stopped under it)."""

import contextlib

import kombu
import pytest

from project import broker

URL = "sentinel://127.0.0.1:1;sentinel://127.0.0.1:2;sentinel://127.0.0.1:3"
OPTIONS = {"socket_timeout": 1, "socket_connect_timeout": 1}


def test_a_switch_to_the_next_sentinel_keeps_the_projects_transport():
    conn = kombu.Connection(URL, transport="project.broker:SentinelTransport")
    try:
        assert isinstance(conn.transport, broker.SentinelTransport)
        for _ in range(3):
            conn.maybe_switch_next()  # what kombu does after a failed connection attempt
            assert isinstance(conn.transport, broker.SentinelTransport), type(conn.transport)
    finally:
        conn.release()


def test_an_ack_that_cannot_reach_redis_frees_the_prefetch_slot(devstack, settings):
    """Celery logs a failed ack and goes on; kombu kept the message's prefetch slot until its ack
    reached Redis, so with prefetch 1 the worker never polled again (and never met the broken
    connection that makes it reconnect). The slot is freed and the error still raised."""
    conn = kombu.Connection(
        settings.CELERY_BROKER_URL, transport=settings.CELERY_BROKER_TRANSPORT, transport_options=OPTIONS
    )
    try:
        assert isinstance(conn.transport, broker.Transport)
        channel = conn.channel()
        queue = kombu.Queue("test-broker-ack", routing_key="test-broker-ack", channel=channel)
        queue.declare()
        kombu.Producer(channel).publish({"n": 1}, routing_key="test-broker-ack", declare=[queue])
        channel.basic_qos(0, 1, False)
        message = queue.get()
        assert message is not None and not channel.qos.can_consume()
        devstack.stop("redis")
        with pytest.raises(conn.connection_errors):
            message.ack()
        assert channel.qos.can_consume()
    finally:
        with contextlib.suppress(*conn.connection_errors):
            conn.release()
