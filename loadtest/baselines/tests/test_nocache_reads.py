"""The read baselines: the same documents without the cache levels in front of them."""

import pytest

from orders import keys
from orders.tests.factories import make_orders, make_product
from project import counters
from project.redis import get_redis
from project.testing import CaptureAll

pytestmark = pytest.mark.django_db


def test_the_nocache_baseline_reads_the_database_every_time(auth_client, user):
    make_orders(user=user, product=make_product(), count=2)
    auth_client.get("/api/bench/orders/nocache/?page=1")
    with CaptureAll() as q:
        res = auth_client.get("/api/bench/orders/nocache/?page=1")
    assert len(res.json()["results"]) == 2
    assert q.count >= 1
    assert not get_redis().exists(keys.page1_key(user.pk))


def test_baselines_l2only_and_nocache(client):
    with CaptureAll() as q:
        assert client.get("/api/bench/home/nocache/").status_code == 200
        assert client.get("/api/bench/home/nocache/").status_code == 200
    assert q.count >= 2  # the database every time
    client.get("/api/bench/home/l2only/")
    _, redis0 = counters.snapshot()
    with CaptureAll() as q:
        body = client.get("/api/bench/home/l2only/").json()
    assert q.count == 0 and counters.snapshot()[1] - redis0 >= 1 and "products" in body


def test_uncached_baseline_reads_the_database_every_time(auth_client):
    auth_client.get("/api/bench/me/nocache/")
    with CaptureAll() as q:
        body = auth_client.get("/api/bench/me/nocache/").json()
    assert body["username"] == "alice" and q.count >= 1
