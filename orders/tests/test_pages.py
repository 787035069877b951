import pytest

from orders import services
from orders.tests.factories import make_flash_product, make_orders, make_product

pytestmark = pytest.mark.django_db


def test_product_list_shows_active_products_by_rank(client):
    hot = make_product(name="Hot kettle", rank=999)
    make_product(name="Hidden thing", is_active=False)
    res = client.get("/products/")
    html = res.content.decode()
    assert res.status_code == 200
    assert "Hot kettle" in html and "Hidden thing" not in html
    assert f'data-product-id="{hot.pk}"' in html


def test_product_page_has_a_buy_button_for_a_signed_in_user(auth_client, client):
    product = make_product(name="Blue mug", price_cents=1999)
    html = auth_client.get(f"/products/{product.pk}/").content.decode()
    assert "Blue mug" in html and "¥19.99" in html and 'data-testid="buy"' in html


def test_product_page_asks_anonymous_visitors_to_log_in(client):
    html = client.get(f"/products/{make_product().pk}/").content.decode()
    assert 'data-testid="login-to-buy"' in html


def test_flash_product_page_shows_the_countdown_and_units_left(auth_client):
    product = make_flash_product(stock=30)
    services.flash_open(product_id=product.pk)
    html = auth_client.get(f"/products/{product.pk}/").content.decode()
    assert 'data-testid="countdown"' in html and "30 left" in html


def test_unknown_product_page_is_404(client):
    assert client.get("/products/999999/").status_code == 404


def test_my_orders_shows_only_my_orders_with_pagination(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    product = make_product(name="Shared product")
    mine = make_orders(user=alice, product=product, count=45)
    theirs = make_orders(user=bob, product=product, count=3)
    client.force_login(alice, backend="usercenter.auth.CachedUserBackend")
    page1 = client.get("/orders/").content.decode()
    assert f'data-order-id="{mine[0].pk}"' in page1 and 'data-testid="next"' in page1
    assert page1.count('data-testid="order-row"') == 40
    page2 = client.get("/orders/?page=2").content.decode()
    assert page2.count('data-testid="order-row"') == 5
    for o in theirs:
        assert f'data-order-id="{o.pk}"' not in page1 + page2
    assert client.get("/orders/?page=3").status_code == 404


def test_my_orders_needs_a_login(client):
    res = client.get("/orders/")
    assert res.status_code == 302 and "/login/" in res["Location"]


def test_order_status_page_is_for_the_token_owner_only(auth_client, client, make_user):
    product = make_flash_product(stock=5)
    services.flash_open(product_id=product.pk)
    token = auth_client.post(f"/api/flash/{product.pk}/buy/").json()["token"]
    html = auth_client.get(f"/orders/status/{token}/").content.decode()
    assert 'data-status="pending"' in html
    client.force_login(make_user("stranger"), backend="usercenter.auth.CachedUserBackend")
    assert client.get(f"/orders/status/{token}/").status_code == 404
