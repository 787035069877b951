"""The red-packet pages, also with Redis down."""

import pytest

from project.queue import ReliableQueue
from redpackets import keys, services
from redpackets.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def test_the_list_page_shows_campaigns(client):
    campaign = make_campaign(title="Lucky packet")
    res = client.get("/redpackets/")
    assert res.status_code == 200
    assert b"Lucky packet" in res.content and f'data-id="{campaign.pk}"'.encode() in res.content


def test_an_empty_list_says_so(client):
    assert b'data-testid="no-campaigns"' in client.get("/redpackets/").content


def test_the_campaign_page_for_a_visitor_asks_to_log_in(client):
    campaign = make_campaign()
    res = client.get(f"/redpackets/{campaign.pk}/")
    assert res.status_code == 200
    assert b'data-testid="login-to-grab"' in res.content


def test_the_campaign_page_shows_my_grab_and_grabs(auth_client, user):
    campaign = make_campaign(title="Mine")
    amount = services.grab(user_id=user.pk, campaign_id=campaign.pk).body["amount_cents"]
    ReliableQueue(keys.queue(campaign.pk)).consume(services.grab_record_batch)
    html = auth_client.get(f"/redpackets/{campaign.pk}/").content.decode()
    money = f"¥{amount // 100}.{amount % 100:02d}"
    assert 'data-testid="grab"' in html and "disabled" in html
    assert money in html  # the result line, the table and the balance
    assert 'data-testid="my-grabs"' in html


def test_unknown_campaign_page_is_404(client):
    assert client.get("/redpackets/4242/").status_code == 404


@pytest.mark.disruptive
def test_redis_down_grab_is_503_json_and_pages_still_load(auth_client, devstack):
    campaign = make_campaign()
    auth_client.get("/redpackets/")  # session in place
    devstack.stop("redis")
    res = auth_client.post(f"/api/redpackets/{campaign.pk}/grab/")
    assert res.status_code == 503
    assert res["Content-Type"] == "application/json"
    assert "unavailable" in res.json()["detail"]
    assert auth_client.get("/redpackets/").status_code == 200
    assert auth_client.get(f"/redpackets/{campaign.pk}/").status_code == 200
    assert auth_client.get(f"/api/redpackets/{campaign.pk}/").status_code == 200
    assert auth_client.get("/api/redpackets/mine/").status_code == 200
