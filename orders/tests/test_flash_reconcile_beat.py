"""The beat reconciles ended flash sales with --fix, as it does red packets; live sales wait."""

import pytest

from orders import keys, services, tasks
from orders.tests.factories import make_flash_product
from project.celery import app
from project.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)


def lose_a_buy(product, user) -> str:
    services.flash_open(product_id=product.pk)
    token = services.flash_buy(user_id=user.pk, product_id=product.pk)
    get_redis().delete(keys.flash_queue(product.pk))  # the event is lost on the way
    return token


def test_the_beat_runs_flash_reconciliation():
    entry = app.conf.beat_schedule["orders-flash-reconcile"]
    assert entry["task"] == tasks.reconcile_flash.name == "orders.tasks.reconcile_flash"


def test_the_beat_gives_back_a_lost_buy_of_an_ended_sale(make_user):
    product = make_flash_product(stock=5)
    user = make_user("beat-lost")
    token = lose_a_buy(product, user)
    services.flash_end(product_id=product.pk)
    assert tasks.reconcile_flash() == {product.pk: False}
    assert get_redis().hget(keys.flash_status(product.pk), token).startswith(b"r:")
    assert get_redis().hget(keys.flash_bought(product.pk), str(user.pk)) == b"0"
    assert tasks.reconcile_flash() == {product.pk: True}


def test_the_beat_leaves_a_live_sale_alone(make_user):
    product = make_flash_product(stock=5)
    user = make_user("beat-live")
    token = lose_a_buy(product, user)
    assert tasks.reconcile_flash() == {}
    assert get_redis().hget(keys.flash_status(product.pk), token).startswith(b"p:")
    assert not services.flash_reconcile(product_id=product.pk)["ok"]
