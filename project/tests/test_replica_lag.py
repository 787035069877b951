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
HEARTBEAT_TABLE_SQL = "CREATE TABLE IF NOT EXISTS lag_heartbeat (id serial PRIMARY KEY, at timestamptz DEFAULT now())"


@pytest.fixture
def delayed_replica(real_replica, devstack):  # noqa: F811  the fixture imported above
    """The dev stack's replica, applying WAL DELAY_SECONDS late (`devstack.py replica-delay`)."""
    devstack.replica_delay(DELAY_SECONDS)
    try:
        yield real_replica
    finally:
        devstack.replica_delay(0)
        _wait_caught_up()


def _primary_flushed_position() -> int:
    """The primary's WAL position once everything committed so far is flushed (the dev stack
    commits asynchronously: one synchronous commit that writes flushes all WAL before it; a
    commit that wrote nothing is not flushed at all)."""
    conn = psycopg2.connect(**connections["default"].get_connection_params())
    try:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = on")
            cur.execute(HEARTBEAT_TABLE_SQL)
            cur.execute("INSERT INTO lag_heartbeat DEFAULT VALUES")
            conn.commit()
            cur.execute("SELECT pg_current_wal_lsn()::text")
            return db_router.parse_lsn(cur.fetchone()[0])
    finally:
        conn.close()


def _wait_caught_up(timeout=15.0):
    """Until the replica has replayed every commit made before this call."""
    target = _primary_flushed_position()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = db_router.replica_status(force=True)
        if status["ok"] and (status["replay_lsn"] or 0) >= target:
            return
        time.sleep(0.1)
    raise AssertionError(f"replica not caught up in {timeout}s: {db_router.replica_status(force=True)}")


def _writes_in_background(stop: threading.Event):
    conn = psycopg2.connect(**{k: v for k, v in connections["default"].get_connection_params().items()})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(HEARTBEAT_TABLE_SQL)
        while not stop.is_set():
            cur.execute("INSERT INTO lag_heartbeat DEFAULT VALUES")
            stop.wait(0.1)
    conn.close()


def test_idle_caught_up_replica_reads_zero_lag(real_replica):  # noqa: F811  the fixture imported above
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


def test_readyz_and_metrics_show_the_real_lag(delayed_replica, client):
    """The same readout where operators and Prometheus read it: ~0 idle, ~the delay behind."""
    import re

    _wait_caught_up()
    time.sleep(1.0)
    idle = client.get("/readyz").json()["replica"]
    assert idle["ok"] is True and idle["lag_seconds"] < 0.5, idle
    stop = threading.Event()
    writer = threading.Thread(target=_writes_in_background, args=(stop,))
    writer.start()
    try:
        time.sleep(DELAY_SECONDS + 1.5)
        behind = client.get("/readyz").json()["replica"]
        metrics = client.get("/metrics").content.decode()
    finally:
        stop.set()
        writer.join()
    assert DELAY_SECONDS * 0.5 <= behind["lag_seconds"] <= DELAY_SECONDS * 2, behind
    gauge = float(re.search(r"^surge_replica_lag_seconds(?:\{[^}]*\})? (\S+)$", metrics, re.M).group(1))
    assert DELAY_SECONDS * 0.5 <= gauge <= DELAY_SECONDS * 2, gauge


def test_stopped_replica_is_skipped(real_replica, devstack):  # noqa: F811  the fixture imported above
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


def test_a_fill_that_read_before_a_worker_write_caches_nothing(user):
    """The fill race: a fill reads the old counts, the worker commits and drops the fields (the
    hash does not exist yet, so the drop is a no-op), then the fill stores what it read. The
    write position it saw has moved, so the store script writes nothing and the next read
    refills from the database."""
    from usercenter import registry
    from usercenter import selectors as usercenter_selectors
    from usercenter import services as usercenter_services

    product = Product.objects.create(name="Raced", price_cents=100, stock=10)
    usercenter_services.user_hash_drop(user_id=user.id)
    db_router.begin_request()
    try:
        with db_router.reading_for(user.id) as seen:
            stale = registry.field_group("orders").load(user_id=user.id)
        assert stale == {"orders_count": 0}
        from django.db import transaction

        from orders import services as order_services

        with transaction.atomic(using="default"):  # the worker's write lands between read and store
            Order.objects.create(user=user, product=product, quantity=1, amount_cents=100, token="race-1")
            db_router.remember_writes(user_ids=[user.id])
            order_services.orders_imported(user_ids=[user.id])
        usercenter_services.user_hash_write(user_id=user.id, fields=stale, mode="fill", seen_position=seen)
    finally:
        db_router.end_request()
    db_router.begin_request()
    try:
        assert usercenter_selectors.me_get(user_id=user.id)["orders_count"] == 1
    finally:
        db_router.end_request()
