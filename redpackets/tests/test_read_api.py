"""`GET /api/redpackets/`, `/api/redpackets/<id>/` and `/api/redpackets/mine/`."""

import pytest

from project.queue import ReliableQueue
from redpackets import keys, services
from redpackets.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def test_the_list_shows_open_campaigns_with_what_is_left(client, make_user):
    live = make_campaign(total=1000, count=4, title="Live one")
    upcoming = make_campaign(starts_in=600, title="Later")
    make_campaign(open=False, title="Draft")
    services.grab(user_id=make_user("x").pk, campaign_id=live.pk)
    res = client.get("/api/redpackets/")
    assert res.status_code == 200
    items = {c["id"]: c for c in res.json()["results"]}
    assert set(items) == {live.pk, upcoming.pk}
    assert items[live.pk]["state"] == "live" and items[live.pk]["remaining_count"] == 3
    assert items[live.pk]["remaining_cents"] < 1000 and items[live.pk]["grabbed_count"] == 1
    assert items[upcoming.pk]["state"] == "upcoming"


def test_the_detail_shows_remaining_and_my_grab(auth_client, user):
    campaign = make_campaign(total=1000, count=4)
    amount = services.grab(user_id=user.pk, campaign_id=campaign.pk).body["amount_cents"]
    body = auth_client.get(f"/api/redpackets/{campaign.pk}/").json()
    assert body["remaining_count"] == 3 and body["remaining_cents"] == 1000 - amount
    assert body["my_amount_cents"] == amount
    assert body["balance_cents"] == 0  # not drained yet


def test_a_sold_out_campaign_says_so(client, make_user):
    campaign = make_campaign(total=1, count=1)
    services.grab(user_id=make_user("s").pk, campaign_id=campaign.pk)
    assert client.get(f"/api/redpackets/{campaign.pk}/").json()["state"] == "sold_out"


def test_unknown_or_draft_detail_is_404(client):
    assert client.get("/api/redpackets/99999/").status_code == 404
    assert client.get(f"/api/redpackets/{make_campaign(open=False).pk}/").status_code == 404


def test_mine_lists_my_persisted_grabs_newest_first(auth_client, user):
    a, b = make_campaign(title="A"), make_campaign(title="B")
    for c in (a, b):
        services.grab(user_id=user.pk, campaign_id=c.pk)
        ReliableQueue(keys.queue(c.pk)).consume(services.grab_record_batch)
    res = auth_client.get("/api/redpackets/mine/")
    assert res.status_code == 200
    assert [g["packet_id"] for g in res.json()["results"]] == [b.pk, a.pk]


def test_mine_needs_authentication(client):
    assert client.get("/api/redpackets/mine/").status_code in (401, 403)
