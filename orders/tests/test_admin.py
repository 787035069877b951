import pytest

from orders import keys
from orders.tests.factories import make_flash_product, make_orders, make_product
from project import testing
from project.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)


def test_product_and_order_changelists_load_with_filters(admin_client, admin_user):
    product = make_product(name="Admin kettle")
    make_orders(user=admin_user, product=product, count=3)
    res = admin_client.get("/admin/orders/product/?is_flash__exact=0")
    assert res.status_code == 200 and "Admin kettle" in res.content.decode()
    res = admin_client.get("/admin/orders/order/?source__exact=normal&status__exact=created")
    assert res.status_code == 200 and "Admin kettle" in res.content.decode()


def test_the_open_flash_sale_action_loads_the_stock(admin_client):
    product = make_flash_product(stock=12)
    res = admin_client.post(
        "/admin/orders/product/",
        {"action": "open_flash_sale", "_selected_action": [product.pk]},
        follow=True,
    )
    res = testing.admin_confirm(admin_client, res)
    assert res.status_code == 200
    assert "12 units in the sale" in res.content.decode()
    assert int(get_redis().get(keys.flash_stock(product.pk))) == 12
