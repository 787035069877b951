"""The Sentinel broker transport stays the project's across kombu's failover switches (no
Redis needed: a kombu connection resolves its transport without connecting)."""

import kombu

from project import broker

URL = "sentinel://127.0.0.1:1;sentinel://127.0.0.1:2;sentinel://127.0.0.1:3"


def test_a_switch_to_the_next_sentinel_keeps_the_projects_transport():
    conn = kombu.Connection(URL, transport="project.broker:SentinelTransport")
    try:
        assert isinstance(conn.transport, broker.SentinelTransport)
        for _ in range(3):
            conn.maybe_switch_next()  # what kombu does after a failed connection attempt
            assert isinstance(conn.transport, broker.SentinelTransport), type(conn.transport)
    finally:
        conn.release()
