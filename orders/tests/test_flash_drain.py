import json

import pytest

from orders import keys, selectors, services
from orders.models import Order, Product
from orders.tests.factories import make_flash_product, make_orders
from project.queue import ReliableQueue, drain_all
from project.redis import get_redis
from usercenter.services import user_hash_key

pytestmark = pytest.mark.django_db(transaction=True)


def open_sale(**kw):
    product = make_flash_product(**kw)
    services.flash_open(product_id=product.pk)
    return product


def queued(product_id):
    return [json.loads(x) for x in get_redis().lrange(keys.flash_queue(product_id), 0, -1)]


def test_the_drain_creates_the_orders_takes_db_stock_and_answers_the_token(auth_client, user):
    product = open_sale(stock=5, limit=2, price_cents=700)
    token = auth_client.post(f"/api/flash/{product.pk}/buy/", {"quantity": 2}, content_type="application/json")
    token = token.json()["token"]
    assert drain_all(time_budget=5)[services.QUEUE_FAMILY] == 1
    order = Order.objects.get(token=token)
    assert (order.user_id, order.quantity, order.amount_cents, order.source) == (user.pk, 2, 1400, "flash")
    assert Product.objects.get(pk=product.pk).stock == 3
    status = auth_client.get(f"/api/flash/orders/{token}/").json()
    assert status == {"token": token, "status": "created", "order_id": order.pk}


def test_a_replayed_batch_creates_nothing_twice(make_user):
    product = open_sale(stock=10)
    users = [make_user(f"rp{i}") for i in range(3)]
    for u in users:
        services.flash_buy(user_id=u.pk, product_id=product.pk)
    events = queued(product.pk)
    services.flash_record_batch(keys.flash_queue(product.pk), events)
    services.flash_record_batch(keys.flash_queue(product.pk), events)  # a dead worker's batch, reaped
    assert Order.objects.filter(product=product).count() == 3
    assert Product.objects.get(pk=product.pk).stock == 7


def test_the_order_time_is_the_events_and_an_impossible_one_does_not_fail_the_batch(make_user):
    from datetime import UTC, datetime

    product = open_sale(stock=10)
    a, b = make_user("ts-a"), make_user("ts-b")
    events = [
        {"token": "t-ms", "user_id": a.pk, "product_id": product.pk, "quantity": 1, "ts": 1795000000123},
        {"token": "t-bad", "user_id": b.pk, "product_id": product.pk, "quantity": 1, "ts": 10**20},
    ]
    before = datetime.now(UTC)
    services.flash_record_batch(keys.flash_queue(product.pk), events)
    times = dict(Order.objects.values_list("token", "created_at"))
    assert times["t-ms"] == datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC)
    assert times["t-bad"] >= before.replace(microsecond=0)  # the drain's own time
    assert Product.objects.get(pk=product.pk).stock == 8


def test_events_the_database_has_no_stock_for_are_rejected_not_oversold(make_user):
    product = open_sale(stock=3)
    Product.objects.filter(pk=product.pk).update(stock=1)  # Redis and the DB out of step
    buyers = [make_user(f"os{i}") for i in range(3)]
    tokens = [services.flash_buy(user_id=u.pk, product_id=product.pk) for u in buyers]
    drain_all(time_budget=5)
    assert Order.objects.filter(product=product).count() == 1
    assert Product.objects.get(pk=product.pk).stock == 0
    states = [selectors.flash_token_status(token=t, user_id=u.pk)["status"] for t, u in zip(tokens, buyers)]
    assert states == ["created", "rejected", "rejected"]
    # A rejected buyer was not charged against the limit.
    assert get_redis().hget(keys.flash_bought(product.pk), str(buyers[1].pk)) == b"0"


def test_a_flash_order_invalidates_page_one_and_the_cached_order_count(auth_client, user):
    product = open_sale(stock=5)
    make_orders(user=user, product=product, count=2)
    assert len(auth_client.get("/api/orders/").json()["results"]) == 2
    get_redis().hset(user_hash_key(user.pk), mapping={"orders_count": 2, "username": "alice"})
    token = auth_client.post(f"/api/flash/{product.pk}/buy/").json()["token"]
    drain_all(time_budget=5)
    assert not get_redis().exists(keys.page1_key(user.pk))
    assert get_redis().hget(user_hash_key(user.pk), "orders_count") is None
    page = auth_client.get("/api/orders/").json()
    assert page["results"][0]["id"] == Order.objects.get(token=token).pk
    assert len(page["results"]) == 3


def test_a_fill_that_raced_with_an_invalidation_stores_nothing(user):
    product = open_sale(stock=5)
    r = get_redis()
    gen_before = r.get(keys.page1_gen_key(user.pk))
    services.order_list_forget(user_ids=[user.pk])
    # A reader that saw the old generation must not store its (older) page.
    assert r.get(keys.page1_gen_key(user.pk)) != gen_before
    make_orders(user=user, product=product, count=1)
    selectors.order_first_page(user_id=user.pk)
    assert r.exists(keys.page1_key(user.pk))  # a fill with the current generation is stored


def test_the_queue_family_lists_open_sales():
    a, b = open_sale(stock=1), open_sale(stock=1)
    assert set(services.flash_queue_keys()) == {keys.flash_queue(a.pk), keys.flash_queue(b.pk)}
    assert ReliableQueue(keys.flash_queue(a.pk)).depth() == 0


def test_reloading_a_sale_after_redis_lost_it_keeps_the_allotment_and_the_limits(make_user):
    product = open_sale(stock=500, flash_stock=10)
    first = [make_user(f"rl{i}") for i in range(4)]
    for u in first:
        services.flash_buy(user_id=u.pk, product_id=product.pk)
    drain_all(time_budget=5)
    get_redis().flushdb()  # Redis restarted without persistence
    result = services.flash_open(product_id=product.pk)
    assert result["stock"] == 6  # 10 offered, 4 sold: not 10 again
    with pytest.raises(services.FlashLimitReached):
        services.flash_buy(user_id=first[0].pk, product_id=product.pk)
    assert services.flash_buy(user_id=make_user("newcomer").pk, product_id=product.pk)
