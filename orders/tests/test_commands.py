from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orders import keys, services
from orders.models import Order
from orders.tests.factories import make_flash_product, make_orders, make_product
from project.queue import drain_all
from project.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command("orders", *args, stdout=out)
    return out.getvalue()


def test_flash_open_loads_the_stock_and_is_idempotent(make_user):
    product = make_flash_product(stock=50, flash_stock=20)
    assert "20 units" in run("flash-open", str(product.pk))
    services.flash_buy(user_id=make_user("fo").pk, product_id=product.pk)
    assert "19 units" in run("flash-open", str(product.pk))  # a loaded sale keeps its count
    assert "20 units" in run("flash-open", str(product.pk), "--restock")  # 50 in DB, 1 queued


def test_flash_open_refuses_a_normal_product():
    with pytest.raises(CommandError, match="not a flash-sale product"):
        run("flash-open", str(make_product().pk))


def test_the_beat_task_opens_sales_starting_soon_only():
    soon = make_flash_product(stock=5, starts_in=60)
    later = make_flash_product(stock=5, starts_in=86400)
    assert services.flash_open_due() == [soon.pk]
    assert get_redis().exists(keys.flash_stock(soon.pk)) and not get_redis().exists(keys.flash_stock(later.pk))


def test_reconcile_reports_consistent_after_a_drain(make_user):
    product = make_flash_product(stock=5)
    services.flash_open(product_id=product.pk)
    services.flash_buy(user_id=make_user("ok1").pk, product_id=product.pk)
    drain_all(time_budget=5)
    assert "consistent" in run("reconcile-flash", str(product.pk))


def test_reconcile_finds_and_fixes_a_lost_buy_and_excess_redis_stock(make_user):
    product = make_flash_product(stock=5)
    services.flash_open(product_id=product.pk)
    user = make_user("lost")
    token = services.flash_buy(user_id=user.pk, product_id=product.pk)
    get_redis().delete(keys.flash_queue(product.pk))  # the event is lost
    get_redis().set(keys.flash_stock(product.pk), 99)  # and Redis claims more than the DB has
    with pytest.raises(CommandError, match="--fix"):
        run("reconcile-flash", str(product.pk))
    out = run("reconcile-flash", str(product.pk), "--fix")
    assert token in out and "repaired" in out
    assert int(get_redis().get(keys.flash_stock(product.pk))) == 5
    assert get_redis().hget(keys.flash_status(product.pk), token).startswith(b"r:")
    assert get_redis().hget(keys.flash_bought(product.pk), str(user.pk)) == b"0"
    assert "consistent" in run("reconcile-flash", str(product.pk))
    assert services.flash_buy(user_id=user.pk, product_id=product.pk)  # may buy again


def test_warm_cache_fills_page_one_of_recent_buyers(make_user):
    a, b = make_user("wa"), make_user("wb")
    product = make_product()
    make_orders(user=a, product=product, count=2)
    make_orders(user=b, product=product, count=1)
    assert "page 1 warm for 2 users" in run("warm-cache", "--users", "5")
    assert get_redis().exists(keys.page1_key(a.pk), keys.page1_key(b.pk)) == 2
    assert Order.objects.count() == 3


def test_bad_arguments_fail_with_a_message():
    with pytest.raises(CommandError):
        run("warm-cache", "--users", "0")
    with pytest.raises(CommandError):
        run("reconcile-flash", "999999")


def test_deactivating_a_product_closes_its_loaded_sale(make_user):
    product = make_flash_product(stock=5)
    services.flash_open(product_id=product.pk)
    product.is_active = False
    product.save(update_fields=["is_active"])
    services.product_changed(product_id=product.pk)  # what the admin calls after a save
    with pytest.raises(services.NotAFlashProduct):
        services.flash_buy(user_id=make_user("late").pk, product_id=product.pk)
