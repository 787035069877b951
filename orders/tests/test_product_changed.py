import json

import pytest

from orders import services
from orders.models import Product
from project.redis import get_redis
from usercenter.services import HOME_REBUILD_PENDING_KEY


@pytest.mark.django_db(transaction=True)
def test_a_product_edit_schedules_one_home_rebuild_after_commit():
    product = Product.objects.create(name="Kettle", price_cents=1999, stock=5)
    assert not get_redis().exists(HOME_REBUILD_PENDING_KEY)
    services.product_changed(product_id=product.pk)
    services.product_changed(product_id=product.pk)
    # One pending rebuild for both edits (debounced), not one per save.
    assert get_redis().exists(HOME_REBUILD_PENDING_KEY)
    tasks = [json.loads(m)["headers"]["task"] for m in get_redis().lrange("celery", 0, -1)]
    assert tasks.count("usercenter.tasks.home_rebuild") == 1


@pytest.mark.django_db(transaction=True)
def test_a_purchase_republishes_the_products_cdn_files(make_user):
    from staticgen.services import pending_targets

    product = Product.objects.create(name="Lamp", price_cents=500, stock=5)
    get_redis().delete("staticgen:pending")  # what creating the product scheduled
    services.order_create(
        user_id=make_user("buyer").pk, product_id=product.pk, quantity=1, idempotency_key="lamp-order-1"
    )
    # The stock in products/<id>.json changed: its files are queued for the debounced publish.
    assert {f"products/{product.pk}.json", f"products/{product.pk}.html"} <= set(pending_targets())
