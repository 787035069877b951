import pytest

from orders import selectors
from orders.serializers import product_dict
from orders.tests.factories import make_flash_product, make_product

pytestmark = pytest.mark.django_db


def test_product_detail_api_is_the_selector_output(client):
    product = make_flash_product(stock=7, name="Flash lamp")
    res = client.get(f"/api/products/{product.pk}/")
    assert res.status_code == 200
    body = res.json()
    assert body == selectors.product_detail(product_id=product.pk) == product_dict(product)
    assert body["is_flash"] is True and body["in_stock"] is True and body["flash_starts_at"]


def test_unknown_or_inactive_product_is_404(client):
    assert client.get("/api/products/999999/").status_code == 404
    assert client.get(f"/api/products/{make_product(is_active=False).pk}/").status_code == 404


def test_product_list_is_paginated_by_rank(client):
    for i in range(30):
        make_product(rank=i)
    first = client.get("/api/products/").json()
    assert first["has_next"] is True and len(first["results"]) == selectors.PRODUCT_PAGE_SIZE
    ranks = [p["rank"] for p in first["results"]]
    assert ranks == sorted(ranks, reverse=True)
    assert client.get("/api/products/?page=x").status_code == 400
    assert client.get("/api/products/?page=99").status_code == 404


def test_hot_products_are_active_plain_dicts_by_rank():
    make_product(rank=5, name="b")
    make_product(rank=50, name="a")
    make_product(rank=500, is_active=False)
    hot = selectors.hot_products(limit=2)
    assert [p["name"] for p in hot] == ["a", "b"]
    assert all(type(p) is dict for p in hot)


def test_order_count_counts_only_the_users_orders(make_user):
    from orders.tests.factories import make_orders

    a, b = make_user("ca"), make_user("cb")
    make_orders(user=a, product=make_product(), count=3)
    assert selectors.order_count(user_id=a.pk) == 3
    assert selectors.order_count(user_id=b.pk) == 0
