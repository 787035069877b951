import threading

import pytest
from django.db import connections
from django.test import Client

from orders.models import Order, Product
from orders.tests.factories import make_flash_product, make_product

URL = "/api/orders/"


def buy(client, product_id, quantity=1, key="key-00000001", **headers):
    return client.post(
        URL,
        {"product_id": product_id, "quantity": quantity, "idempotency_key": key},
        content_type="application/json",
        **headers,
    )


@pytest.mark.django_db
def test_a_purchase_creates_an_order_and_takes_the_stock(auth_client, user):
    product = make_product(stock=5, price_cents=1250)
    res = buy(auth_client, product.pk, quantity=2)
    assert res.status_code == 201
    body = res.json()
    assert (body["quantity"], body["amount_cents"], body["source"], body["status"]) == (2, 2500, "normal", "created")
    product.refresh_from_db()
    assert product.stock == 3
    assert Order.objects.get(pk=body["id"]).user_id == user.pk


@pytest.mark.django_db
def test_the_same_idempotency_key_twice_creates_one_order(auth_client):
    product = make_product(stock=5)
    first = buy(auth_client, product.pk, key="same-key-123")
    second = buy(auth_client, product.pk, key="same-key-123")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Order.objects.count() == 1
    product.refresh_from_db()
    assert product.stock == 4


@pytest.mark.django_db
def test_the_same_key_from_two_users_is_two_orders(client, make_user, token_for):
    product = make_product(stock=5)
    a, b = make_user("ka"), make_user("kb")
    ra = buy(client, product.pk, key="shared-key-1", HTTP_AUTHORIZATION=f"Bearer {token_for(a)}")
    rb = buy(client, product.pk, key="shared-key-1", HTTP_AUTHORIZATION=f"Bearer {token_for(b)}")
    assert (ra.status_code, rb.status_code) == (201, 201)
    assert ra.json()["id"] != rb.json()["id"]


@pytest.mark.django_db
def test_out_of_stock_is_409_and_takes_nothing(auth_client):
    product = make_product(stock=1)
    res = buy(auth_client, product.pk, quantity=2)
    assert res.status_code == 409
    assert res.json()["detail"] == "Out of stock."
    product.refresh_from_db()
    assert product.stock == 1 and Order.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"product_id": "x", "quantity": 1, "idempotency_key": "key-00000001"},
        {"product_id": 1, "quantity": 0, "idempotency_key": "key-00000001"},
        {"product_id": 1, "quantity": 101, "idempotency_key": "key-00000001"},
        {"product_id": 1, "quantity": 1, "idempotency_key": "short"},
        {"product_id": 1, "quantity": 1},
        {"product_id": 2**64, "quantity": 1, "idempotency_key": "key-00000001"},
    ],
)
def test_invalid_input_is_400_with_field_messages(auth_client, body):
    res = auth_client.post(URL, body, content_type="application/json")
    assert res.status_code == 400
    assert res.json()


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_400(auth_client):
    res = auth_client.post(URL, "{not json", content_type="application/json")
    assert res.status_code == 400


@pytest.mark.django_db
def test_an_unknown_or_inactive_product_is_404(auth_client):
    inactive = make_product(is_active=False)
    assert buy(auth_client, 999999).status_code == 404
    assert buy(auth_client, inactive.pk).status_code == 404


@pytest.mark.django_db
def test_a_flash_product_cannot_be_bought_normally(auth_client):
    res = buy(auth_client, make_flash_product(stock=5).pk)
    assert res.status_code == 400
    assert "flash" in res.json()["detail"]


@pytest.mark.django_db
def test_anonymous_purchase_is_401(client):
    assert buy(client, make_product().pk).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_buyers_of_ten_units_get_ten_orders_and_forty_409s(make_user, token_for):
    product = make_product(stock=10)
    tokens = [token_for(make_user(f"buyer{i}")) for i in range(50)]
    barrier = threading.Barrier(len(tokens))
    statuses = []
    lock = threading.Lock()

    def run(i, token):
        try:
            client = Client()
            barrier.wait()
            res = buy(client, product.pk, key=f"storm-key-{i:04d}", HTTP_AUTHORIZATION=f"Bearer {token}")
            with lock:
                statuses.append(res.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * 10 + [409] * 40
    assert Product.objects.get(pk=product.pk).stock == 0
    assert Order.objects.filter(product=product).count() == 10
    assert Order.objects.filter(product=product).values("user").distinct().count() == 10
