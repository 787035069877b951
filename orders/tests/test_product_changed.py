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
