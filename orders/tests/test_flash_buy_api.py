import json

import pytest
from django.test import Client

from orders import keys, services
from orders.services import flash_purchase
from orders.tests.factories import make_flash_product, make_product
from project import counters
from project.redis import get_redis

pytestmark = pytest.mark.django_db


def buy(client, product_id, quantity=None):
    body = {} if quantity is None else {"quantity": quantity}
    return client.post(f"/api/flash/{product_id}/buy/", body, content_type="application/json")


def open_sale(**kw):
    product = make_flash_product(**kw)
    services.flash_open(product_id=product.pk)
    return product


def test_a_buy_answers_202_with_a_token_and_queues_the_order(auth_client, user):
    product = open_sale(stock=5, limit=2)
    res = buy(auth_client, product.pk, quantity=2)
    assert res.status_code == 202
    token = res.json()["token"]
    assert token.startswith(f"f{product.pk}-")
    r = get_redis()
    assert int(r.get(keys.flash_stock(product.pk))) == 3
    [event] = [json.loads(x) for x in r.lrange(keys.flash_queue(product.pk), 0, -1)]
    assert event == {"token": token, "user_id": user.pk, "product_id": product.pk, "quantity": 2, "ts": event["ts"]}


def test_buying_past_the_per_user_limit_is_409(auth_client):
    product = open_sale(stock=5, limit=1)
    assert buy(auth_client, product.pk).status_code == 202
    res = buy(auth_client, product.pk)
    assert res.status_code == 409
    assert res.json()["bought"] == 1
    assert int(get_redis().get(keys.flash_stock(product.pk))) == 4


def test_sold_out_is_410_and_then_short_circuits_without_touching_redis(client, make_user, token_for):
    product = open_sale(stock=1)
    first, second = make_user("f1"), make_user("f2")
    assert services.flash_buy(user_id=first.pk, product_id=product.pk)
    res = client.post(f"/api/flash/{product.pk}/buy/", HTTP_AUTHORIZATION=f"Bearer {token_for(second)}")
    assert res.status_code == 410
    _, before = counters.snapshot()
    with pytest.raises(services.FlashSoldOut):
        services.flash_buy(user_id=second.pk, product_id=product.pk)
    _, after = counters.snapshot()
    assert after == before  # the process-local flag answered


def test_reopening_the_sale_clears_the_sold_out_flag(make_user):
    product = open_sale(stock=5, flash_stock=1)
    a, b = make_user("r1"), make_user("r2")
    services.flash_buy(user_id=a.pk, product_id=product.pk)
    with pytest.raises(services.FlashSoldOut):
        services.flash_buy(user_id=b.pk, product_id=product.pk)
    assert services.flash_sold_out_locally(product.pk)
    services.flash_open(product_id=product.pk, restock=True)
    assert not services.flash_sold_out_locally(product.pk)
    assert services.flash_buy(user_id=b.pk, product_id=product.pk)


def test_another_process_flag_expires_so_a_restock_elsewhere_is_seen(make_user, monkeypatch):
    # Another process re-opens the sale: ours only learns it when its flag expires.
    monkeypatch.setattr(flash_purchase, "SOLD_OUT_FLAG_SECONDS", 0.0)
    product = open_sale(stock=1)
    a, b = make_user("x1"), make_user("x2")
    services.flash_buy(user_id=a.pk, product_id=product.pk)
    with pytest.raises(services.FlashSoldOut):
        services.flash_buy(user_id=b.pk, product_id=product.pk)
    get_redis().set(keys.flash_stock(product.pk), 1)  # what flash_open --restock does elsewhere
    assert services.flash_buy(user_id=b.pk, product_id=product.pk)


def test_before_the_window_is_425(auth_client):
    loaded = open_sale(starts_in=600)
    res = buy(auth_client, loaded.pk)
    assert res.status_code == 425
    assert res.json()["starts_at"]
    not_loaded = make_flash_product(starts_in=3600)
    assert buy(auth_client, not_loaded.pk).status_code == 425


def test_after_the_window_is_410(auth_client):
    product = open_sale(starts_in=-7200, lasts=3600)
    assert buy(auth_client, product.pk).status_code == 410


def test_a_product_without_a_flash_sale_is_404(auth_client):
    assert buy(auth_client, make_product().pk).status_code == 404
    assert buy(auth_client, 999999).status_code == 404


def test_anonymous_is_401_and_bad_quantity_is_400(auth_client):
    product = open_sale(stock=5)
    assert buy(Client(), product.pk).status_code == 401
    assert buy(auth_client, product.pk, quantity=0).status_code == 400
    assert buy(auth_client, product.pk, quantity="many").status_code == 400
    assert auth_client.get(f"/api/flash/{product.pk}/buy/").status_code == 405


@pytest.mark.parametrize(
    ("quantity", "status", "queued"),
    [
        (1, 202, 1),
        (100, 202, 100),
        ("3", 202, 3),
        (101, 400, None),
        (-1, 400, None),
        (True, 400, None),
        ([2], 400, None),
    ],
)
def test_the_quantity_is_checked_on_the_fast_path_and_by_the_serializer_alike(auth_client, quantity, status, queued):
    product = open_sale(stock=200, limit=100)
    res = buy(auth_client, product.pk, quantity=quantity)
    assert res.status_code == status, res.content
    if queued is None:
        assert list(res.json()) == ["quantity"]  # the serializer's message, field by field
        assert get_redis().llen(keys.flash_queue(product.pk)) == 0
    else:
        (event,) = get_redis().lrange(keys.flash_queue(product.pk), 0, -1)
        assert json.loads(event)["quantity"] == queued


def test_the_token_is_pending_until_drained(auth_client):
    product = open_sale(stock=5)
    token = buy(auth_client, product.pk).json()["token"]
    res = auth_client.get(f"/api/flash/orders/{token}/")
    assert res.json() == {"token": token, "status": "pending"}


def test_another_users_token_and_junk_tokens_are_404(client, auth_client, make_user, token_for):
    product = open_sale(stock=5)
    token = buy(auth_client, product.pk).json()["token"]
    other = {"HTTP_AUTHORIZATION": f"Bearer {token_for(make_user('nosy'))}"}
    assert client.get(f"/api/flash/orders/{token}/", **other).status_code == 404
    for junk in ("nope", "f-1", f"f{product.pk}-deadbeef"):
        assert auth_client.get(f"/api/flash/orders/{junk}/").status_code == 404


@pytest.mark.disruptive
def test_redis_down_is_503_with_a_clear_message(client, user, token_for, devstack):
    product = open_sale(stock=5)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}
    devstack.stop("redis")
    res = client.post(f"/api/flash/{product.pk}/buy/", **headers)
    assert res.status_code == 503
    assert "unavailable" in res.json()["detail"]


def test_a_flash_buy_and_a_pending_poll_issue_zero_sql(client, make_user, token_for):
    from project.testing import CaptureAll

    product = open_sale(stock=5)
    buyer = make_user("zero")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(buyer)}"}
    client.get("/api/auth/whoami/", **headers)  # the token and the user are now cached
    with CaptureAll() as q:
        res = client.post(f"/api/flash/{product.pk}/buy/", **headers)
        poll = client.get(f"/api/flash/orders/{res.json()['token']}/", **headers)
    assert (res.status_code, poll.json()["status"]) == (202, "pending")
    assert q.count == 0, q.queries


def test_a_live_sale_redis_does_not_hold_answers_503_and_asks_for_a_reload(auth_client):
    from orders import keys, services
    from project.redis import get_redis

    product = make_flash_product(starts_in=-60)  # in its window, never loaded (or lost by Redis)
    res = buy(auth_client, product.pk)
    assert res.status_code == 503 and res["Retry-After"] and "retry" in res.json()["detail"]
    assert get_redis().exists(keys.flash_reload_lock(product.pk))  # a worker was asked to load it
    services.flash_open(product_id=product.pk)  # what that worker does
    assert buy(auth_client, product.pk).status_code == 202
