"""Read-your-writes and the lag readout against the dev stack's real streaming replica, delayed
with PostgreSQL's own recovery_min_apply_delay."""

import threading
import time

import psycopg2
import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from orders import selectors as order_selectors
from orders.models import Order, Product
from project import db_router
from project.tests.test_router import real_replica  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)
DELAY_SECONDS = 2


def _replica_sql(cfg, sql):
    conn = psycopg2.connect(host=cfg["HOST"], port=cfg["PORT"], user=cfg["USER"], dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


@pytest.fixture
def delayed_replica(real_replica):  # noqa: F811
    _replica_sql(real_replica, f"ALTER SYSTEM SET recovery_min_apply_delay = '{DELAY_SECONDS}s'")
    _replica_sql(real_replica, "SELECT pg_reload_conf()")
    yield real_replica
    _replica_sql(real_replica, "ALTER SYSTEM RESET recovery_min_apply_delay")
    _replica_sql(real_replica, "SELECT pg_reload_conf()")
    _wait_caught_up()


def _wait_caught_up(timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db_router.replica_status(force=True)["lag"] == 0:
            return
        time.sleep(0.2)


def _writes_in_background(stop: threading.Event):
    conn = psycopg2.connect(**{k: v for k, v in connections["default"].get_connection_params().items()})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS lag_heartbeat (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
        while not stop.is_set():
            cur.execute("INSERT INTO lag_heartbeat DEFAULT VALUES")
            stop.wait(0.1)
    conn.close()


def test_idle_caught_up_replica_reads_zero_lag(real_replica):  # noqa: F811
    _wait_caught_up()
    time.sleep(1.0)  # idle: no writes; the old readout grew here
    status = db_router.replica_status(force=True)
    assert status["ok"] is True
    assert status["lag"] < 0.5


def test_delayed_replica_reads_about_the_delay(delayed_replica):
    stop = threading.Event()
    writer = threading.Thread(target=_writes_in_background, args=(stop,))
    writer.start()
    try:
        time.sleep(DELAY_SECONDS + 1.5)
        lags = []
        for _ in range(5):
            lags.append(db_router.replica_status(force=True)["lag"])
            time.sleep(0.3)
    finally:
        stop.set()
        writer.join()
    assert DELAY_SECONDS * 0.5 <= sorted(lags)[2] <= DELAY_SECONDS * 2, lags


def test_stopped_replica_is_skipped(real_replica, devstack):  # noqa: F811
    devstack.stop("replica")
    try:
        status = db_router.replica_status(force=True)
        assert status["ok"] is False and status["error"]
    finally:
        devstack.start("replica")
        _wait_caught_up()


def test_worker_write_is_read_back_by_its_author_during_the_lag(delayed_replica, user):
    # given: page 1 read (and cached) before the worker writes
    product = Product.objects.create(name="Lagged", price_cents=100, stock=10)
    time.sleep(DELAY_SECONDS + 0.5)  # the product and user reached the replica
    db_router.begin_request()
    assert order_selectors.order_first_page(user_id=user.id)["results"] == []
    db_router.end_request()
    # when: a worker-style write, its position recorded before the page is invalidated
    from django.db import transaction

    from orders import services as order_services

    with transaction.atomic(using="default"):
        Order.objects.create(user=user, product=product, quantity=1, amount_cents=100, token="lag-1")
        db_router.remember_writes(user_ids=[user.id])
        order_services.orders_imported(user_ids=[user.id])
    # then: the author's next reads show it at once, also though the replica lags
    db_router.begin_request()
    try:
        assert [o["id"] for o in order_selectors.order_first_page(user_id=user.id)["results"]]
        with db_router.reading_for(user.id):
            assert Order.objects.filter(user_id=user.id).count() == 1
    finally:
        db_router.end_request()
    # and another user's reads still go to the replica
    other = get_user_model().objects.create_user(username="other-lag", password="x-long-password")
    db_router.begin_request()
    try:
        assert db_router.user_needs_primary(other.id)[0] is False
    finally:
        db_router.end_request()
