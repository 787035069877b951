import time

import psycopg2
import pytest
from django.contrib.auth import get_user_model
from django.db import connections, transaction

from project import db_router
from project.db_router import PIN_COOKIE, PrimaryReplicaRouter

# Outside a test transaction, so the router sees what a real request sees.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def real_replica(settings):
    """Point the replica health probe at the real streaming replica of the dev stack."""
    import os

    url = os.environ.get("DATABASE_REPLICA_URL", "")
    if not url or url == os.environ.get("DATABASE_URL"):
        pytest.skip("no separate replica configured")
    import environ

    cfg = environ.Env.db_url_config(url)
    replica = connections["replica"]
    saved = dict(replica.settings_dict)
    replica.settings_dict.update(HOST=cfg["HOST"], PORT=cfg["PORT"])
    db_router.reset_replica_status()
    db_router.close_health_connection()
    yield cfg
    replica.settings_dict.clear()
    replica.settings_dict.update(saved)
    db_router.close_health_connection()
    db_router.reset_replica_status()


def test_reads_go_to_the_replica_and_writes_to_the_primary():
    router = PrimaryReplicaRouter()
    db_router.begin_request()
    assert router.db_for_read(get_user_model()) == "replica"
    assert router.db_for_write(get_user_model()) == "default"
    assert router.db_for_read(get_user_model()) == "default"  # rest of the request after a write


def test_reads_inside_an_atomic_block_go_to_the_primary():
    db_router.begin_request()
    with transaction.atomic(using="default"):
        assert get_user_model().objects.all().db == "default"
    assert get_user_model().objects.all().db == "replica"


def test_migrations_only_on_the_primary():
    router = PrimaryReplicaRouter()
    assert router.allow_migrate("default", "usercenter") is True
    assert router.allow_migrate("replica", "usercenter") is False


@pytest.mark.urls("project.tests.urls_router")
def test_write_then_read_in_one_request_and_the_next_request_hit_the_primary(client, user):
    res = client.get("/read/")
    assert res.json()["db"] == "replica"
    res = client.get("/write/?h=a" + "0" * 63)
    assert res.json() == {"before": "replica", "after": "default"}
    assert PIN_COOKIE in res.cookies
    # The next request from the same client still reads its own write from the primary.
    assert client.get("/read/").json()["db"] == "default"
    # Another client (no cookie) reads from the replica.
    client.cookies.pop(PIN_COOKIE)
    assert client.get("/read/").json()["db"] == "replica"


@pytest.mark.urls("project.tests.urls_router")
def test_read_your_writes_pin_expires(client, user, settings):
    settings.READ_YOUR_WRITES_SECONDS = 1
    client.get("/write/?h=b" + "0" * 63)
    assert client.get("/read/").json()["db"] == "default"
    time.sleep(2.1)
    assert client.get("/read/").json()["db"] == "replica"


@pytest.mark.urls("project.tests.urls_router")
def test_token_clients_are_pinned_through_redis(client, user, token_for):
    token = token_for(user)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client.get("/write/?h=c" + "0" * 63, **headers)
    assert client.get("/read/", **headers).json()["db"] == "default"
    other = get_user_model().objects.create_user(username="zed", password="x-long-password")
    assert client.get("/read/", HTTP_AUTHORIZATION=f"Bearer {token_for(other)}").json()["db"] == "replica"


def test_a_lagging_replica_is_skipped(settings):
    settings.REPLICA_MAX_LAG_SECONDS = -1  # any lag, even zero, is too much
    db_router.reset_replica_status()
    db_router.begin_request()
    assert db_router.replica_status(force=True)["ok"] is False
    assert get_user_model().objects.all().db == "default"


def test_replica_stopped_reads_still_work(real_replica, devstack, user):
    db_router.begin_request()
    assert db_router.replica_status(force=True)["ok"] is True
    devstack.stop("replica")
    status = db_router.replica_status(force=True)
    assert status["ok"] is False and status["error"]
    qs = get_user_model().objects.filter(username="alice")
    assert qs.db == "default"
    assert qs.count() == 1
    devstack.start("replica")
    deadline = time.monotonic() + 10
    while not db_router.replica_status(force=True)["ok"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert get_user_model().objects.all().db == "replica"


@pytest.mark.django_db(transaction=True)
def test_a_row_written_on_the_primary_appears_on_the_real_replica(real_replica):
    get_user_model().objects.create_user(username="replicated", password="x-long-password")
    dbname = connections["default"].settings_dict["NAME"]
    conn = psycopg2.connect(
        host=real_replica["HOST"], port=real_replica["PORT"], user=real_replica["USER"], dbname=dbname
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            assert cur.fetchone()[0] is True  # really the standby
            deadline = time.monotonic() + 10
            found = 0
            while time.monotonic() < deadline:
                cur.execute("SELECT count(*) FROM auth_user WHERE username = 'replicated'")
                found = cur.fetchone()[0]
                if found:
                    break
                time.sleep(0.05)
        assert found == 1
    finally:
        conn.close()


def test_replica_queries_stay_counted_when_a_request_opens_the_replica_connection(client, user, token_for):
    """The SQL counter and the replica-failure note are both execute wrappers of the replica
    connection; opening that connection inside a request must leave both in place afterwards
    (a per-request wrapper block used to pop the counter on its way out)."""
    from project import counters, metrics

    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}
    connections["replica"].close()
    for _ in range(2):
        before = counters.snapshot()[0]
        assert client.get("/api/me/ledger/", **headers).status_code == 200
        assert counters.snapshot()[0] > before
    wrappers = connections["replica"].execute_wrappers
    assert metrics._count_sql in wrappers and db_router._note_replica_failure in wrappers  # noqa: SLF001  the wrappers under test
