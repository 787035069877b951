"""The control room page and its JSON: staff only, a snapshot shared through Redis."""

import pytest
from django.utils import timezone

from project import testing
from project.controlroom import snapshot
from project.redis import get_redis
from project.testing import CaptureAll

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_page_and_its_json_answer_staff_and_a_cached_refresh_costs_no_sql(admin_client):
    assert admin_client.get("/admin/controlroom/").status_code == 200
    first = admin_client.get("/admin/controlroom/data.json").json()
    assert {"health", "panels", "series", "alerts", "errors"} <= set(first)
    with CaptureAll() as q:
        again = admin_client.get("/admin/controlroom/data.json").json()
    assert again["built_at"] == first["built_at"] and q.count == 0
    assert snapshot.build()["health"]["stores"][0]["name"] == "primary"


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    res = client.get("/admin/controlroom/data.json")
    assert res.status_code == 302 and "/admin/login/" in res["Location"]


# ---------------------------------------------------------------- the apps' panels and actions


def _sale_day(n: int):
    """n open red packets with grabs (some persisted, some still queued) and n live flash sales
    with buys, made through the products' own services."""
    from django.contrib.auth import get_user_model

    from orders import services as order_services
    from orders.tests.factories import make_flash_product
    from redpackets import services as rp_services
    from redpackets.tests.factories import make_campaign

    users = [get_user_model().objects.create_user(username=f"cr{n}-{i}", password="x") for i in range(3)]
    campaigns, products = [], []
    for _ in range(n):
        campaign = make_campaign(total=1000, count=10)
        for u in users:
            assert rp_services.grab(user_id=u.pk, campaign_id=campaign.pk).status == 200
        product = make_flash_product(stock=5, limit=1)
        order_services.flash_open(product_id=product.pk)
        for u in users[:2]:
            order_services.flash_buy(user_id=u.pk, product_id=product.pk)
        campaigns.append(campaign)
        products.append(product)
    return users, campaigns, products


def _panel(data, name):
    return {r["id"]: r for r in next(p for p in data["panels"] if p["name"] == name)["rows"]}


def test_panels_show_what_is_left_accepted_persisted_and_queued():
    from project.queue import drain_all

    _users, (campaign,), (product,) = _sale_day(1)
    before = snapshot.build()
    rp, flash = _panel(before, "redpackets")[campaign.pk], _panel(before, "flash")[product.pk]
    assert (rp["accepted"], rp["persisted"], rp["queue_depth"], rp["left"]) == (3, 0, 3, "7 / 10")
    assert rp["drain_lag_seconds"] >= 0 and rp["state"] == "live"
    assert (flash["accepted"], flash["persisted"], flash["queue_depth"], flash["left"]) == (2, 0, 2, 3)
    drain_all(time_budget=5, linger=0)
    after = snapshot.build()
    rp, flash = _panel(after, "redpackets")[campaign.pk], _panel(after, "flash")[product.pk]
    assert (rp["accepted"], rp["persisted"], rp["queue_depth"]) == (3, 3, 0)
    assert (flash["accepted"], flash["persisted"], flash["queue_depth"]) == (2, 2, 0)


def test_a_refresh_costs_the_same_few_queries_for_one_campaign_or_many():
    _sale_day(1)
    with CaptureAll() as one:
        snapshot.build()
    _sale_day(6)
    with CaptureAll() as many:
        data = snapshot.build()
    assert len(_panel(data, "redpackets")) == 7 and len(_panel(data, "flash")) == 7
    assert many.count == one.count <= 4, [q["sql"][:120] for q in many.queries]


def _run_from_the_page(admin_client, action, target, *, twice=False):
    page = admin_client.get(f"/admin/controlroom/confirm/?action={action}&targets={target}")
    assert page.status_code == 200
    return testing.admin_confirm(admin_client, page, twice=twice)


def test_each_action_confirms_logs_who_did_it_and_a_second_click_does_nothing_more(admin_client):
    from django.contrib.admin.models import LogEntry

    from orders import keys as order_keys
    from orders import services as order_services
    from redpackets import keys as rp_keys
    from redpackets.models import Grab

    users, (campaign,), (product,) = _sale_day(1)
    # A grab lost on its way to the queue (Redis knows it, no row, not queued): reconcile
    # puts it back, once, however often the admin clicks.
    get_redis().delete(rp_keys.queue(campaign.pk))
    res = _run_from_the_page(admin_client, "redpackets.reconcile", campaign.pk, twice=True)
    page = res.content.decode()
    assert "re-queued 3 grab(s)" in page and "already done with this confirmation" in page
    assert get_redis().llen(rp_keys.queue(campaign.pk)) == 3
    from project.queue import drain_all

    drain_all(time_budget=5, linger=0)
    assert Grab.objects.filter(campaign=campaign).count() == 3
    # Close the flash sale: new buys answer 410; closing again changes nothing.
    _run_from_the_page(admin_client, "orders.flash_close", product.pk, twice=True)
    with pytest.raises(order_services.OrderError) as err:
        order_services.flash_buy(user_id=users[2].pk, product_id=product.pk)
    assert err.value.status == 410
    again = _run_from_the_page(admin_client, "orders.flash_close", product.pk).content.decode()
    assert "already over" in again
    # Re-stock and reconcile the sale; rebuild the home document and a user's caches.
    _run_from_the_page(admin_client, "orders.flash_reconcile", product.pk)
    assert get_redis().exists(order_keys.flash_meta(product.pk))
    assert "home document rebuilt" in _run_from_the_page(admin_client, "usercenter.rebuild_home", "-").content.decode()
    res = _run_from_the_page(admin_client, "usercenter.rebuild_user", users[0].pk).content.decode()
    assert f"user {users[0].pk}: dropped" in res
    entries = list(LogEntry.objects.order_by("id").values_list("user__username", "object_id", "change_message"))
    # One entry per run, under the admin's name, on the object it acted on; the double clicks
    # added none.
    assert [e[2].split(":")[1].strip() for e in entries] == [
        "Reconcile",
        "Close",
        "Close",
        "Reconcile",
        "Rebuild the home document",
        "Rebuild a user's caches",
    ]
    assert {e[0] for e in entries} == {"boss"}
    assert entries[0][1] == str(campaign.pk) and entries[1][1] == str(product.pk)


def test_the_change_lists_send_their_selection_to_the_same_confirmation(admin_client):
    from orders.tests.factories import make_flash_product

    product = make_flash_product(stock=7)
    res = admin_client.post(
        "/admin/orders/product/", {"action": "close_flash_sale", "_selected_action": [product.pk]}, follow=True
    )
    assert "End flash sale" in res.content.decode()  # shown, not yet run
    product.refresh_from_db()
    assert product.flash_ends_at > timezone.now()
    testing.admin_confirm(admin_client, res)
    product.refresh_from_db()
    assert product.flash_ends_at <= timezone.now()


def test_errors_logged_anywhere_show_in_the_last_errors():
    import logging

    logging.getLogger("surge.test").error("the drain fell over: %s", "boom")
    assert any("the drain fell over: boom" in e["message"] for e in snapshot.build()["errors"])
