"""Read-your-writes end to end with a replica that really lags: a real gunicorn and a real Celery
worker whose `replica` alias is the dev stack's streaming replica, applying WAL 2 s late. Users
buy in a flash sale, grab a red packet and buy normally, then reload their pages while the worker
writes; sign-ins written while Redis was down are repaired by the worker. Their reads must never
go back to an older state, must show each write as soon as it is committed, and stay right."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from orders import keys as order_keys
from orders import services as order_services
from orders.models import Order
from orders.tests.factories import make_flash_product, make_product
from project import testing
from project.tests.test_replica_lag import DELAY_SECONDS, _wait_caught_up, delayed_replica  # noqa: F401, F811  fixtures, used by name
from project.tests.test_router import real_replica  # noqa: F401 - fixture
from redpackets import keys as redpacket_keys
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers
from signin import rules as signin_rules
from signin.models import SignIn
from signin.tasks import repair_cache
from usercenter.models import LedgerEntry

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

USERS = 8
REAL_REPLICA = {"SURGE_TEST_REAL_REPLICA": "1"}
READ_SECONDS = DELAY_SECONDS * 2 + 4  # each author keeps reading this long after writing


@pytest.fixture
def lagged_stack(delayed_replica, tmp_path):  # noqa: F811  the fixture imported above
    """gunicorn and a Celery worker reading the delayed replica (the test process itself reads
    the primary, where the truth is)."""
    server = testing.GunicornProcess(tmp_path, **REAL_REPLICA)
    worker = None
    try:
        worker = testing.WorkerProcess(tmp_path, "lag", **REAL_REPLICA)
        yield server
    finally:
        if worker is not None:
            worker.stop()
        server.stop()


def _get(session, url: str) -> dict:
    res = session.get(url, timeout=10)
    assert res.status_code == 200, (url, res.status_code, res.text[:300])
    return res.json()


def _snapshot(session, base: str, token: str | None) -> dict:
    """What the author sees, read in the order the drain publishes it: the flash status first
    (set after the drain's commit, position and invalidations), then the pages."""
    status = _get(session, f"{base}/api/flash/orders/{token}/")["status"] if token else None
    me = _get(session, f"{base}/api/me/")
    return {
        "flash": status,
        "page1": len(_get(session, f"{base}/api/orders/?page=1")["results"]),
        "orders_count": me["orders_count"],
        "grabs_count": me["grabs_count"],
        "balance": me["balance_cents"],
        "mine": len(_get(session, f"{base}/api/redpackets/mine/")["results"]),
        "ledger": len(_get(session, f"{base}/api/me/ledger/")["results"]),
        "signed_today": me["signed_today"],
    }


def _client(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _nudge_drains_until(done, timeout: float) -> None:
    from project.tasks import drain_queues

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        drain_queues.delay()
        time.sleep(0.3)
    assert done(), "the worker did not drain in time"


def test_authors_see_what_the_worker_wrote_for_them_while_the_replica_lags(lagged_stack):
    base = lagged_stack.url
    flash = make_flash_product(stock=USERS, limit=1)
    order_services.flash_open(product_id=flash.pk)
    normal = make_product(stock=100)
    campaign = make_campaign(total=USERS * 100, count=USERS)
    users = make_grabbers(USERS, "lagged")
    _wait_caught_up(timeout=DELAY_SECONDS * 4)  # users, tokens and products are on the replica

    # Given: every user's caches were filled from the replica before any write.
    for _uid, token in users:
        before = _snapshot(_client(token), base, None)
        assert before["page1"] == before["orders_count"] == before["grabs_count"] == before["mine"] == 0

    # When: each buys in the flash sale, grabs and buys normally, then keeps reading.
    def author(item):
        _uid, token = item
        session = _client(token)
        res = session.post(f"{base}/api/flash/{flash.pk}/buy/", json={"quantity": 1}, timeout=10)
        assert res.status_code == 202, res.text
        flash_token = res.json()["token"]
        res = session.post(f"{base}/api/redpackets/{campaign.pk}/grab/", timeout=10)
        assert res.status_code == 200, res.text
        grabbed = res.json()["amount_cents"]
        # Neither answer wrote to the database: only the worker's writes can move these reads.
        seen, deadline = [], time.monotonic() + READ_SECONDS
        while time.monotonic() < deadline:
            seen.append(_snapshot(session, base, flash_token))
            time.sleep(0.15)
        # A normal purchase (written in the request) shows at once beside the worker's order.
        body = {"product_id": normal.pk, "quantity": 1, "idempotency_key": uuid.uuid4().hex}
        res = session.post(f"{base}/api/orders/", json=body, timeout=10)
        assert res.status_code == 201, res.text
        seen.append(_snapshot(session, base, flash_token))
        assert seen[-1]["page1"] == seen[-1]["orders_count"] == 2, seen[-1]
        return grabbed, flash_token, seen

    def drained():
        return (
            Order.objects.filter(product=flash).count() == USERS
            and Grab.objects.filter(campaign=campaign).count() == USERS
        )

    with ThreadPoolExecutor(max_workers=USERS) as pool:
        futures = [pool.submit(author, item) for item in users]
        nudger = threading.Thread(target=_nudge_drains_until, args=(drained, READ_SECONDS))
        nudger.start()
        results = [f.result() for f in futures]
        nudger.join()

    # Then: no author ever saw an older state after a newer one ...
    for grabbed, _flash_token, seen in results:
        for field in ("page1", "orders_count", "grabs_count", "balance", "mine", "ledger"):
            values = [s[field] for s in seen]
            assert values == sorted(values), (field, values)
        statuses = [s["flash"] for s in seen]
        assert "pending" not in statuses[statuses.index("created") :] if "created" in statuses else True
        # ... and once the drain had published the order, every page showed it (the replica,
        # 2 s behind, did not have it yet for most of these reads).
        for s in seen[:-1]:
            if s["flash"] == "created":
                assert s["page1"] == s["orders_count"] == 1, s
        assert seen[-1]["flash"] == "created", seen[-1]
        assert seen[-1] == {**seen[-1], "grabs_count": 1, "balance": grabbed, "mine": 1, "ledger": 1}
    assert _queues_empty(flash.pk, campaign.pk)

    # And after the replica caught up, every page and counter is still right (nothing stale
    # was cached from the lagging replica for the TTL).
    _wait_caught_up(timeout=DELAY_SECONDS * 4)
    for (uid, token), (grabbed, flash_token, _seen) in zip(users, results, strict=True):
        after = _snapshot(_client(token), base, flash_token)
        assert after == {**after, "flash": "created", "page1": 2, "orders_count": 2, "grabs_count": 1}
        assert after["balance"] == grabbed and after["mine"] == 1 and after["ledger"] == 1
        assert LedgerEntry.objects.filter(user_id=uid).count() == 1


def _queues_empty(product_id: int, campaign_id: int) -> bool:
    from project.queue import ReliableQueue

    queues = [ReliableQueue(order_keys.flash_queue(product_id)), ReliableQueue(redpacket_keys.queue(campaign_id))]
    return all(q.depth() == 0 and q.in_flight() == 0 for q in queues)


def test_a_repaired_sign_in_is_read_back_at_once_while_the_replica_lags(lagged_stack):
    base = lagged_stack.url
    users = make_grabbers(USERS, "repaired")
    _wait_caught_up(timeout=DELAY_SECONDS * 4)
    for _uid, token in users:  # the sign-in state is cached: never signed in
        assert _get(_client(token), f"{base}/api/me/")["signed_today"] is False

    # Given: sign-ins written to the database while Redis was down (the fallback path's rows).
    today = signin_rules.today()
    SignIn.objects.bulk_create([SignIn(user_id=uid, date=today, cache_synced=False) for uid, _t in users])
    # When: the worker's repair hands them to Redis, well within the replica's delay.
    repair_cache.delay()
    deadline = time.monotonic() + DELAY_SECONDS * 4
    while SignIn.objects.filter(cache_synced=False).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not SignIn.objects.filter(cache_synced=False).exists()
    # Then: each author sees the sign-in on the next read, and still after the catch-up.
    for check in ("at once", "after catch-up"):
        if check == "after catch-up":
            _wait_caught_up(timeout=DELAY_SECONDS * 4)
        for _uid, token in users:
            session = _client(token)
            me = _get(session, f"{base}/api/me/")
            assert me["signed_today"] is True and me["streak"] == 1, (check, me)
            calendar = _get(session, f"{base}/api/signin/calendar/")
            assert today.day in calendar["days"], (check, calendar)


def test_a_replica_killed_in_the_middle_of_a_burst_of_reads_costs_no_5xx(real_replica, devstack, tmp_path):  # noqa: F811  the fixture imported above
    users = make_grabbers(6, "burst")
    _wait_caught_up()
    server = testing.GunicornProcess(tmp_path, **REAL_REPLICA)
    killed_at: list[float] = []
    # Reads that always reach the database (no cache in front of them).
    paths = ["/api/me/ledger/", "/api/redpackets/mine/"]

    def reader(item):
        session, statuses = _client(item[1]), []
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and not (killed_at and time.monotonic() - killed_at[0] > 3):
            statuses.extend(session.get(server.url + path, timeout=10).status_code for path in paths)
        return statuses

    try:
        with ThreadPoolExecutor(max_workers=len(users)) as pool:
            futures = [pool.submit(reader, item) for item in users]
            time.sleep(1.5)  # the burst is running on the replica
            os.kill(devstack.postmaster_pid("replica"), signal.SIGKILL)
            killed_at.append(time.monotonic())
            statuses = [s for f in futures for s in f.result()]
    finally:
        server.stop()
        devstack.restart_killed("replica")
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert set(counts) == {200}, counts
    assert len(statuses) > 100, counts
    log = server.log.read_text()
    assert "replica failed under a request" in log or "replica unavailable" in log, log[-2000:]
