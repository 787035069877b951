import pytest

from orders import keys
from orders.tests.factories import make_orders, make_product
from project.redis import get_redis
from project.testing import CaptureAll

pytestmark = pytest.mark.django_db


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_page_one_is_filled_once_then_served_with_zero_sql(client, user, token_for):
    make_orders(user=user, product=make_product(), count=45)
    headers = bearer(token_for(user))
    first = client.get("/api/orders/", **headers)
    assert first.status_code == 200
    body = first.json()
    assert (body["page"], len(body["results"]), body["has_next"]) == (1, 40, True)
    assert get_redis().exists(keys.page1_key(user.pk))
    with CaptureAll() as q:
        again = client.get("/api/orders/?page=1", **headers)
    assert again.status_code == 200
    assert again.json() == body
    assert q.count == 0, q.queries


def test_a_page_one_hit_is_one_redis_get_and_sends_the_stored_bytes(client, user, token_for):
    from project import counters

    make_orders(user=user, product=make_product(), count=3)
    headers = bearer(token_for(user))
    client.get("/api/orders/", **headers)  # fills page 1 (and the token's revocation list)
    before = counters.snapshot()[1]
    res = client.get("/api/orders/", **headers)
    assert counters.snapshot()[1] - before == 1  # the page; authentication asked nothing
    assert res.content == get_redis().get(keys.page1_key(user.pk))
    assert res["Content-Type"] == "application/json"


def test_page_one_hit_with_a_session_is_zero_sql_too(auth_client, user):
    make_orders(user=user, product=make_product(), count=2)
    auth_client.get("/api/orders/")
    with CaptureAll() as q:
        res = auth_client.get("/api/orders/")
    assert len(res.json()["results"]) == 2
    assert q.count == 0, q.queries


def test_page_one_is_newest_first(auth_client, user):
    orders = make_orders(user=user, product=make_product(), count=3)
    ids = [o["id"] for o in auth_client.get("/api/orders/").json()["results"]]
    assert ids == [o.pk for o in orders]  # the factory makes them newest first


def test_page_two_comes_from_the_database_and_is_never_cached(auth_client, user):
    make_orders(user=user, product=make_product(), count=45)
    res = auth_client.get("/api/orders/?page=2")
    assert res.status_code == 200
    body = res.json()
    assert (len(body["results"]), body["has_next"]) == (5, False)
    assert not get_redis().keys("orders:*p2*")
    assert not get_redis().exists(keys.page1_key(user.pk))
    with CaptureAll() as q:
        auth_client.get("/api/orders/?page=2")
    assert q.count >= 1


def test_a_new_order_invalidates_page_one(auth_client, user, django_capture_on_commit_callbacks):
    product = make_product(stock=5)
    make_orders(user=user, product=product, count=2)
    assert len(auth_client.get("/api/orders/").json()["results"]) == 2
    with django_capture_on_commit_callbacks(execute=True):
        res = auth_client.post(
            "/api/orders/",
            {"product_id": product.pk, "quantity": 1, "idempotency_key": "key-00000001"},
            content_type="application/json",
        )
    assert res.status_code == 201
    assert not get_redis().exists(keys.page1_key(user.pk))
    page = auth_client.get("/api/orders/").json()
    assert page["results"][0]["id"] == res.json()["id"]
    assert len(page["results"]) == 3


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5"])
def test_a_bad_page_number_is_400(auth_client, page):
    res = auth_client.get(f"/api/orders/?page={page}")
    assert res.status_code == 400
    assert "page" in res.json()["detail"]


def test_a_page_past_the_end_is_404(auth_client, user):
    make_orders(user=user, product=make_product(), count=3)
    res = auth_client.get("/api/orders/?page=2")
    assert res.status_code == 404
    assert "past the end" in res.json()["detail"]


def test_no_orders_is_an_empty_first_page(auth_client):
    assert auth_client.get("/api/orders/").json() == {"page": 1, "page_size": 40, "has_next": False, "results": []}


def test_anonymous_gets_401_json(client):
    res = client.get("/api/orders/")
    assert res.status_code == 401
    assert res.json()["detail"]


def test_users_never_see_each_others_orders(client, make_user, token_for):
    alice, bob = make_user("alice"), make_user("bob")
    product = make_product()
    mine = {o.pk for o in make_orders(user=alice, product=product, count=3)}
    theirs = {o.pk for o in make_orders(user=bob, product=product, count=2)}
    # Fill both caches, then read each through its own token.
    for _ in range(2):
        a = {o["id"] for o in client.get("/api/orders/", **bearer(token_for(alice))).json()["results"]}
        b = {o["id"] for o in client.get("/api/orders/", **bearer(token_for(bob))).json()["results"]}
        assert (a, b) == (mine, theirs)
