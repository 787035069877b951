"""The flash sale end to end: real HTTP against a real gunicorn (two worker processes), real
Celery workers draining the queue, and a worker SIGKILLed in the middle of a batch."""

import contextlib
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from orders import keys, selectors, services
from orders.models import Order, Product
from orders.tests.factories import make_flash_product
from project import testing
from project.queue import ReliableQueue
from project.redis import get_redis
from project.tasks import drain_queues
from usercenter import services as usercenter_services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

UNITS = 100


def make_buyers(n: int, prefix: str) -> list[tuple[int, str]]:
    """n users with bearer tokens, fast (bulk insert; flash buys need no wallet or profile)."""
    user_model = get_user_model()
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"{prefix}{i}", password="!") for i in range(n)], batch_size=500
        )
        return [(u.pk, usercenter_services.token_issue(user_id=u.pk, name="storm")) for u in users]


def open_sale(stock: int):
    product = make_flash_product(stock=stock, limit=1)
    services.flash_open(product_id=product.pk)
    return product


def wait_for_drain(product, expected: int, timeout: float = 40.0) -> None:
    testing.wait_for_drain(
        keys.flash_queue(product.pk), lambda: Order.objects.filter(product=product).count(), expected, timeout
    )


def assert_sale_outcome(product, accepted: dict[str, int]) -> None:
    orders = list(Order.objects.filter(product=product).values_list("user_id", "token", "quantity"))
    assert len(orders) == UNITS
    assert len({uid for uid, _t, _q in orders}) == UNITS  # no user twice
    assert {t for _u, t, _q in orders} == set(accepted)  # every 202 became exactly its order
    assert all(accepted[t] == uid for uid, t, _q in orders)
    assert Product.objects.get(pk=product.pk).stock == 0
    assert int(get_redis().get(keys.flash_stock(product.pk))) == 0
    for token, uid in list(accepted.items())[:10]:
        assert selectors.flash_token_status(token=token, user_id=uid)["status"] == "created"
    assert services.flash_reconcile(product_id=product.pk)["ok"]


def test_a_thousand_concurrent_buyers_of_a_hundred_units_get_exactly_a_hundred_orders(
    live_gunicorn, celery_worker_factory
):
    product = open_sale(UNITS)
    buyers = make_buyers(1000, "storm")
    celery_worker_factory("w1")
    url = f"{live_gunicorn.url}/api/flash/{product.pk}/buy/"
    # Every buyer once, and the first 200 a second time at the same moment (limit 1).
    attempts = buyers + buyers[:200]
    results = testing.storm_http(url, attempts, json={"quantity": 1})
    statuses = [s for _u, s, _b in results]
    assert statuses.count(202) == UNITS, {s: statuses.count(s) for s in set(statuses)}
    assert set(statuses) <= {202, 409, 410}
    accepted = {body["token"]: uid for uid, s, body in results if s == 202}
    wait_for_drain(product, UNITS)
    assert_sale_outcome(product, accepted)


def test_a_worker_killed_mid_batch_changes_nothing_in_the_outcome(celery_worker_factory):
    product = open_sale(UNITS)
    buyers = make_buyers(150, "kill")
    accepted = {}
    for uid, _token in buyers:
        with contextlib.suppress(services.FlashSoldOut):
            accepted[services.flash_buy(user_id=uid, product_id=product.pk)] = uid
    assert len(accepted) == UNITS
    queue = ReliableQueue(keys.flash_queue(product.pk))
    # Small batches, each holding its transaction open for a while: the kill lands mid-batch.
    slow = celery_worker_factory(
        "slow", QUEUE_CONSUMER_TTL_SECONDS=2, QUEUE_BATCH_SIZE=20, SURGE_TEST_DRAIN_PAUSE_SECONDS=0.6
    )
    drain_queues.delay()
    deadline = time.monotonic() + 30
    while not (Order.objects.filter(product=product).count() >= 20 and queue.in_flight() > 0):
        assert time.monotonic() < deadline, "the slow worker never got going"
        time.sleep(0.05)
    slow.kill()
    stranded = queue.in_flight()
    assert stranded > 0  # a batch was taken and never acknowledged
    assert Order.objects.filter(product=product).count() < UNITS
    celery_worker_factory("rescuer", QUEUE_CONSUMER_TTL_SECONDS=2)
    wait_for_drain(product, UNITS)
    assert_sale_outcome(product, accepted)
