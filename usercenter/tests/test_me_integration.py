"""The user hash shows what the other apps write, through their real services and selectors."""

import uuid

import pytest

from project import queue
from project.testing import CaptureAll

pytestmark = pytest.mark.django_db(transaction=True)


def me(client) -> dict:
    res = client.get("/api/me/")
    assert res.status_code == 200
    return res.json()


def test_signin_order_and_grab_show_up_in_the_cached_user_center(auth_client, user):
    from orders import services as orders_services
    from orders.tests.factories import make_product
    from redpackets import services as redpackets_services
    from redpackets.tests.factories import make_campaign
    from signin import services as signin_services

    before = me(auth_client)
    assert (before["streak"], before["orders_count"], before["grabs_count"]) == (0, 0, 0)

    signin_services.signin_perform(user_id=user.pk)
    after_signin = me(auth_client)
    assert after_signin["signed_today"] is True and after_signin["streak"] == 1
    assert after_signin["points"] > 0

    product = make_product(price_cents=500)
    orders_services.order_create(user_id=user.pk, product_id=product.pk, quantity=1, idempotency_key=uuid.uuid4().hex)
    assert me(auth_client)["orders_count"] == 1

    campaign = make_campaign(total=1000, count=2)
    result = redpackets_services.grab(user_id=user.pk, campaign_id=campaign.pk)
    queue.drain_all(time_budget=5)
    body = me(auth_client)
    assert body["grabs_count"] == 1 and body["grabs_total_cents"] > 0
    assert body["balance_cents"] >= body["grabs_total_cents"], result

    with CaptureAll() as q:
        assert me(auth_client) == body
    assert q.count == 0
