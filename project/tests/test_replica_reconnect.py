"""Drill finding 4: a read whose replica connection drops mid-request while the primary is down
answers 200 from a fresh replica connection, not a 503 from the dead primary. The drop is real:
the replica's backend of that connection is terminated (pg_terminate_backend) just before the
request's first replica query runs, after Django's per-request health check passed."""

import psycopg2
import pytest
from django.db import connections

from orders.tests.factories import make_orders, make_product
from project import db_router
from project.tests.test_router import real_replica  # noqa: F401 - fixture
from usercenter.auth import cached_user, verify_token

pytestmark = [pytest.mark.disruptive, pytest.mark.django_db(transaction=True)]


class DropOnce:
    """An execute wrapper of the replica alias that, at its first query, has the replica
    terminate that connection's backend from another connection, then lets the query run into
    the closed connection."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.dropped: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        if not self.dropped:
            pid = context["connection"].connection.get_backend_pid()
            killer = psycopg2.connect(
                host=self.cfg["HOST"], port=self.cfg["PORT"], user=self.cfg["USER"], dbname="postgres"
            )
            killer.autocommit = True
            try:
                with killer.cursor() as cur:
                    cur.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
                    assert cur.fetchone()[0] is True
            finally:
                killer.close()
            self.dropped.append(pid)
        return execute(sql, params, many, context)


def _wait_replayed(cfg: dict, token: str) -> None:
    """The orders written on the primary are on the replica (the test database replicates)."""
    import time

    dbname = connections["default"].settings_dict["NAME"]
    conn = psycopg2.connect(host=cfg["HOST"], port=cfg["PORT"], user=cfg["USER"], dbname=dbname)
    conn.autocommit = True
    try:
        deadline = time.monotonic() + 15
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("SELECT count(*) FROM orders_order WHERE token = %s", [token])
                if cur.fetchone()[0]:
                    return
                time.sleep(0.05)
        raise AssertionError("the replica did not replay the orders")
    finally:
        conn.close()


def test_a_read_whose_replica_connection_drops_while_the_primary_is_down_answers_200(
    real_replica,  # noqa: F811  the fixture imported above
    devstack,
    client,
    make_user,
    token_for,
):
    user = make_user("reader")
    token = token_for(user)
    cached_user(verify_token(token))  # what an earlier request did: the user is cached in Redis
    orders = make_orders(user=user, product=make_product(), count=3)
    _wait_replayed(real_replica, orders[-1].token)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    connections.close_all()
    devstack.stop("primary")
    drop = DropOnce(real_replica)
    wrappers = connections["replica"].execute_wrappers
    wrappers.append(drop)
    try:
        db_router.reset_replica_status()
        # A page-1 cache miss: its replica connection opens, passes the health check, then dies.
        res = client.get("/api/orders/?page=1", **headers)
        assert drop.dropped, "the replica connection was not dropped under the request"
        assert res.status_code == 200, res.content[:300]
        assert len(res.json()["results"]) == 3
        # The fresh replica connection is another backend, and the replica is in use again.
        assert connections["replica"].connection.get_backend_pid() != drop.dropped[0]
        assert db_router.replica_status()["ok"] is True
    finally:
        wrappers.remove(drop)
        devstack.start("primary")
        connections.close_all()


def test_a_read_whose_replica_is_gone_still_falls_back_to_the_primary(
    real_replica,  # noqa: F811  the fixture imported above
    devstack,
    client,
    make_user,
    token_for,
):
    """The other order: the replica itself is down, so the fresh-connection retry is skipped and
    the read runs on the primary."""
    user = make_user("reader2")
    token = token_for(user)
    cached_user(verify_token(token))
    make_orders(user=user, product=make_product(), count=2)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    db_router.reset_replica_status()
    assert db_router.replica_status(force=True)["ok"] is True
    connections.close_all()
    devstack.stop("replica")
    try:
        # The health status still says "ok" (checked moments ago): the request tries the replica.
        res = client.get("/api/orders/?page=1", **headers)
        assert res.status_code == 200, res.content[:300]
        assert len(res.json()["results"]) == 2
        assert db_router.replica_status()["ok"] is False
    finally:
        devstack.start("replica")
        connections.close_all()
