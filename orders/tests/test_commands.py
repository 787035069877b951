import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orders import keys, services
from orders.models import Order, Product
from orders.tests.factories import make_flash_product, make_orders, make_product
from project.queue import drain_all
from project.redis import get_redis
from project.testing import child_env

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command("orders", *args, stdout=out, stderr=StringIO())
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


# ---------------------------------------------------------------- flash-create / flash-close


def manage(*args, **env):
    """`python manage.py orders ...` as an operator's script runs it, on this test run's stores."""
    return subprocess.run(
        [sys.executable, "manage.py", "orders", *args],
        cwd=ROOT,
        env=child_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def buy(client, product_id):
    return client.post(f"/api/flash/{product_id}/buy/", {"quantity": 1}, content_type="application/json")


def test_flash_create_open_makes_a_sale_that_sells_at_once(auth_client):
    out = run(
        "flash-create",
        "--name",
        "Midnight TV",
        "--price-cents",
        "49900",
        "--stock",
        "30",
        "--flash-stock",
        "10",
        "--per-user-limit",
        "2",
        "--duration",
        "600",
        "--open",
    )
    product = Product.objects.get(pk=int(out.strip()))
    assert (product.name, product.price_cents, product.stock, product.flash_stock) == ("Midnight TV", 49900, 30, 10)
    assert product.is_flash and product.flash_per_user_limit == 2 and product.flash_state() == "live"
    assert int(get_redis().get(keys.flash_stock(product.pk))) == 10
    assert buy(auth_client, product.pk).status_code == 202


def test_flash_create_without_open_waits_for_the_beat_and_a_later_start_answers_425(auth_client):
    starts = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    out = run(
        "flash-create",
        "--name",
        "Later",
        "--price-cents",
        "100",
        "--stock",
        "5",
        "--starts-at",
        starts.isoformat(),
        "--ends-at",
        (starts + timedelta(hours=1)).isoformat(),
    )
    product = Product.objects.get(pk=int(out))
    assert product.flash_starts_at == starts and product.flash_state() == "upcoming"
    assert not get_redis().exists(keys.flash_meta(product.pk))
    assert buy(auth_client, product.pk).status_code == 425


def test_flash_create_refuses_bad_values_with_a_message():
    base = ["flash-create", "--name", "x", "--price-cents", "100", "--stock", "5", "--duration", "60"]
    with pytest.raises(CommandError, match="allotment"):
        run(*base, "--flash-stock", "6")
    with pytest.raises(CommandError, match="end after it starts"):
        run(*base[:-2], "--starts-in", "60", "--ends-at", timezone.now().isoformat())
    with pytest.raises(CommandError):
        run(*base[:-2])  # neither --duration nor --ends-at
    assert not Product.objects.exists()


def test_flash_close_ends_the_sale_buys_answer_410_and_queued_buys_still_become_orders(auth_client, make_user):
    product = make_flash_product(stock=10, limit=5)
    services.flash_open(product_id=product.pk)
    services.flash_buy(user_id=make_user("early").pk, product_id=product.pk)
    out = run("flash-close", str(product.pk))
    assert f"flash sale {product.pk} closed" in out and "1 accepted buy(s) still queued" in out
    product.refresh_from_db()
    assert product.flash_state() == "ended"
    res = buy(auth_client, product.pk)
    assert res.status_code == 410 and res.json()["detail"] == "The sale has ended."
    assert services.flash_open_due() == []  # the beat does not load it again
    drain_all(time_budget=5, linger=0)
    assert Order.objects.filter(product=product).count() == 1
    again = run("flash-close", str(product.pk))  # safe to run twice
    assert "was already over" in again
    product.refresh_from_db()
    assert product.flash_state() == "ended" and buy(auth_client, product.pk).status_code == 410


def test_flash_close_of_a_sale_never_loaded_answers_410_from_the_database(auth_client):
    product = make_flash_product(stock=3, starts_in=600)
    assert buy(auth_client, product.pk).status_code == 425
    assert "database (not loaded in Redis)" in run("flash-close", str(product.pk))
    assert buy(auth_client, product.pk).status_code == 410


def test_flash_commands_as_processes_give_their_exit_codes(auth_client):
    created = manage("flash-create", "--name", "Proc", "--price-cents", "100", "--stock", "4", "--duration", "60")
    assert created.returncode == 0, created.stderr
    product_id = int(created.stdout)
    assert "not loaded yet" in created.stderr
    closed = manage("flash-close", str(product_id))
    assert closed.returncode == 0 and "closed" in closed.stdout
    assert manage("flash-close", str(product_id)).returncode == 0
    assert buy(auth_client, product_id).status_code == 410
    missing = manage("flash-close", "999999")
    assert missing.returncode == 1 and "No product 999999" in missing.stderr and "Traceback" not in missing.stderr
    normal = manage("flash-close", str(make_product().pk))
    assert normal.returncode == 1 and "not a flash-sale product" in normal.stderr
    bad = manage("flash-create", "--name", "x", "--price-cents", "0", "--stock", "1", "--duration", "5")
    assert bad.returncode == 2  # argparse: the price must be at least 1
    helped = manage("flash-create", "--help")
    assert helped.returncode == 0 and "--per-user-limit" in helped.stdout and "exit codes" in helped.stdout


@pytest.mark.disruptive
def test_flash_close_with_redis_stopped_closes_the_database_and_exits_3(devstack, client):
    product = make_flash_product(stock=3)
    devstack.stop("redis")
    res = manage("flash-close", str(product.pk))
    assert res.returncode == 3 and "Redis unavailable" in res.stderr and "Traceback" not in res.stderr
    assert "closed in the database" in res.stderr
    product.refresh_from_db()
    assert product.flash_state() == "ended"
    devstack.start("redis")
    assert manage("flash-close", str(product.pk)).returncode == 0
