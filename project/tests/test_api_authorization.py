"""Authorization matrix: every endpoint x anonymous / another user / the owner / staff. Nobody
reads or changes another user's orders, grabs, ledger, flash tokens, profile or tokens; staff
get no extra power through the API (the admin is where staff work)."""

from __future__ import annotations

import pytest
from django.test import Client

from orders import services as order_services
from orders.tests.factories import make_flash_product, make_product
from project.queue import drain_all
from redpackets.tests.factories import make_campaign
from signin.models import SignIn
from usercenter.models import ApiToken, Profile

ACTORS = ("anonymous", "other", "owner", "staff")


@pytest.fixture
def world(db, make_user, token_for):
    owner, other, staff = make_user("owner"), make_user("other"), make_user("staffer")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    tokens = {"owner": token_for(owner), "other": token_for(other), "staff": token_for(staff)}
    clients = {"anonymous": Client()}
    for name, token in tokens.items():
        clients[name] = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    owner_client = clients["owner"]

    plain = make_product(stock=10)
    order = owner_client.post(
        "/api/orders/",
        {"product_id": plain.pk, "quantity": 1, "idempotency_key": "owner-order-1"},
        content_type="application/json",
    ).json()
    flash = make_flash_product(stock=10, limit=5)
    order_services.flash_open(product_id=flash.pk)
    flash_token = owner_client.post(f"/api/flash/{flash.pk}/buy/", content_type="application/json").json()["token"]
    campaign = make_campaign(count=5, total=500)
    grabbed = owner_client.post(f"/api/redpackets/{campaign.pk}/grab/").json()["amount_cents"]
    assert owner_client.post("/api/signin/").status_code == 200
    owner_client.patch("/api/me/", {"nickname": "The Owner"}, content_type="application/json")
    drain_all(time_budget=5)
    return {
        "users": {"owner": owner, "other": other, "staff": staff},
        "tokens": tokens,
        "clients": clients,
        "order_id": order["id"],
        "flash_token": flash_token,
        "campaign": campaign,
        "grabbed": grabbed,
    }


def _ids(response) -> list:
    return [r["id"] for r in response.json()["results"]]


def test_reads_of_owned_data(world):
    c = world["clients"]
    expected_status = {"anonymous": 401, "other": 200, "owner": 200, "staff": 200}
    for actor in ACTORS:
        orders = c[actor].get("/api/orders/")
        ledger = c[actor].get("/api/me/ledger/")
        grabs = c[actor].get("/api/redpackets/mine/")
        me = c[actor].get("/api/me/")
        whoami = c[actor].get("/api/auth/whoami/")
        calendar = c[actor].get("/api/signin/calendar/")
        for response in (orders, ledger, grabs, me, whoami, calendar):
            assert response.status_code == expected_status[actor], (actor, response.request["PATH_INFO"])
        if actor == "anonymous":
            continue
        mine = actor == "owner"
        assert (world["order_id"] in _ids(orders)) is mine, actor
        assert bool(ledger.json()["results"]) is mine, actor  # the owner's sign-in reward and grab
        assert bool(grabs.json()["results"]) is mine, actor
        assert calendar.json()["signed_today"] is mine, actor
        user = world["users"][actor]
        assert me.json()["id"] == whoami.json()["id"] == user.pk, actor
        assert (me.json()["nickname"] == "The Owner") is mine, actor


def test_a_flash_token_answers_only_its_owner(world):
    c, token = world["clients"], world["flash_token"]
    expected = {"anonymous": 401, "other": 404, "owner": 200, "staff": 404}
    for actor in ACTORS:
        assert c[actor].get(f"/api/flash/orders/{token}/").status_code == expected[actor], actor


def test_a_campaign_shows_each_user_only_their_own_grab(world):
    c, campaign = world["clients"], world["campaign"]
    for actor in ACTORS:
        body = c[actor].get(f"/api/redpackets/{campaign.pk}/").json()
        if actor == "anonymous":
            assert "my_amount_cents" not in body and "balance_cents" not in body
        else:
            assert body["my_amount_cents"] == (world["grabbed"] if actor == "owner" else None), actor


def test_writes_need_a_user_and_touch_only_that_user(world, django_capture_on_commit_callbacks):
    c, users = world["clients"], world["users"]
    campaign = world["campaign"]
    for path in ("/api/signin/", f"/api/redpackets/{campaign.pk}/grab/", "/api/orders/", "/api/auth/logout/"):
        assert c["anonymous"].post(path, content_type="application/json").status_code == 401, path
    assert c["anonymous"].patch("/api/me/", {"nickname": "x"}, content_type="application/json").status_code == 401

    for actor in ("other", "staff"):
        assert c[actor].patch("/api/me/", {"nickname": actor}, content_type="application/json").status_code == 200
        assert c[actor].post("/api/signin/").status_code == 200
        # An id in the body names nothing: the profile changed is always the caller's.
        res = c[actor].patch("/api/me/", {"user_id": users["owner"].pk}, content_type="application/json")
        assert res.status_code == 400
    assert Profile.objects.get(user=users["owner"]).nickname == "The Owner"
    assert SignIn.objects.filter(user=users["owner"]).count() == 1

    # Logging out revokes the caller's token only.
    with django_capture_on_commit_callbacks(execute=True):  # the revocation is published after commit
        assert c["other"].post("/api/auth/logout/").status_code == 204
    assert c["other"].get("/api/auth/whoami/").status_code == 401
    assert c["owner"].get("/api/auth/whoami/").status_code == 200
    assert c["staff"].get("/api/auth/whoami/").status_code == 200
    assert ApiToken.objects.filter(user=users["owner"]).exists()


def test_public_reads_answer_everyone(world):
    c, campaign = world["clients"], world["campaign"]
    for actor in ACTORS:
        for path in ("/api/home/", "/api/products/", "/api/redpackets/", f"/api/redpackets/{campaign.pk}/"):
            assert c[actor].get(path).status_code == 200, (actor, path)


def test_the_control_room_is_staff_only(world, client):
    users = world["users"]
    for actor, expected in (("anonymous", 302), ("other", 302), ("owner", 302), ("staff", 200)):
        browser = Client()
        if actor != "anonymous":
            browser.force_login(users[actor], backend="usercenter.auth.CachedUserBackend")
        assert browser.get("/admin/controlroom/data.json").status_code == expected, actor
        # A bearer token opens nothing in the admin, a staff member's included: the admin wants
        # its own login (and CSRF), not an API credential.
        assert world["clients"][actor].get("/admin/controlroom/data.json").status_code == 302, actor
