"""`POST /api/redpackets/<id>/grab/`: every answer of the grab script, and no SQL."""

import json

import pytest

from project.redis import get_redis
from project.testing import CaptureAll
from redpackets import keys, services
from redpackets.services import grabbing
from redpackets.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def grab(client, campaign_id, **headers):
    return client.post(f"/api/redpackets/{campaign_id}/grab/", **headers)


def test_a_grab_answers_200_with_the_amount_and_queues_the_event(auth_client, user):
    campaign = make_campaign(total=1000, count=4)
    res = grab(auth_client, campaign.pk)
    assert res.status_code == 200
    body = res.json()
    assert body["packet_id"] == campaign.pk
    assert body["amount_cents"] in campaign.shares
    r = get_redis()
    [event] = [json.loads(x) for x in r.lrange(keys.queue(campaign.pk), 0, -1)]
    assert event == {"packet": campaign.pk, "user": user.pk, "amount": body["amount_cents"], "at": event["at"]}
    assert r.llen(keys.amounts(campaign.pk)) == 3
    assert int(r.hget(keys.meta(campaign.pk), "left_cents")) == 1000 - body["amount_cents"]


def test_second_grab_by_same_user_is_409_with_the_earlier_amount(auth_client):
    campaign = make_campaign(total=1000, count=4)
    first = grab(auth_client, campaign.pk).json()["amount_cents"]
    res = grab(auth_client, campaign.pk)
    assert res.status_code == 409
    assert res.json()["amount_cents"] == first
    assert get_redis().llen(keys.amounts(campaign.pk)) == 3


def test_sold_out_is_410(client, make_user, token_for):
    campaign = make_campaign(total=2, count=1)
    assert services.grab(user_id=make_user("first").pk, campaign_id=campaign.pk).status == 200
    res = grab(client, campaign.pk, HTTP_AUTHORIZATION=f"Bearer {token_for(make_user('late'))}")
    assert res.status_code == 410
    assert res.json()["reason"] == "sold_out"


def test_before_the_start_is_425_with_the_start_time(auth_client):
    campaign = make_campaign(starts_in=600)
    res = grab(auth_client, campaign.pk)
    assert res.status_code == 425
    assert res.json()["starts_at"]
    assert get_redis().llen(keys.amounts(campaign.pk)) == campaign.count


def test_after_the_end_is_410(auth_client):
    campaign = make_campaign(starts_in=-100, lasts=50)
    res = grab(auth_client, campaign.pk)
    assert res.status_code == 410
    assert res.json()["reason"] == "ended"


def test_a_closed_campaign_is_410_even_inside_its_window(auth_client):
    campaign = make_campaign()
    services.campaign_close(campaign_id=campaign.pk)
    assert grab(auth_client, campaign.pk).status_code == 410


def test_unknown_or_unloaded_campaign_is_404(auth_client):
    draft = make_campaign(open=False)
    assert grab(auth_client, draft.pk).status_code == 404
    assert grab(auth_client, 999999).status_code == 404


def test_hammering_the_button_is_429(auth_client, monkeypatch):
    monkeypatch.setattr(grabbing, "GRAB_RATE_LIMIT", 3)
    campaign = make_campaign(starts_in=600)
    codes = [grab(auth_client, campaign.pk).status_code for _ in range(5)]
    assert codes == [425, 425, 425, 429, 429]
    res = grab(auth_client, campaign.pk)
    assert int(res["Retry-After"]) >= 1
    assert res.json()["retry_after_ms"] > 0


def test_anonymous_is_401_json(client):
    campaign = make_campaign()
    res = grab(client, campaign.pk)
    assert res.status_code == 401
    assert res.json()["detail"]


def test_a_bad_token_is_401(client):
    campaign = make_campaign()
    assert grab(client, campaign.pk, HTTP_AUTHORIZATION="Bearer nope").status_code == 401


def test_get_is_405(auth_client):
    campaign = make_campaign()
    assert auth_client.get(f"/api/redpackets/{campaign.pk}/grab/").status_code == 405


def test_grab_issues_no_sql_once_session_and_user_are_cached(auth_client, make_user, client, token_for):
    campaign = make_campaign(total=1000, count=10)
    other = make_campaign(total=1000, count=10)
    grab(auth_client, other.pk)  # warms the session and the cached user
    with CaptureAll() as q:
        res = grab(auth_client, campaign.pk)
    assert res.status_code == 200
    assert q.count == 0, q.queries
    # The same with a bearer token (its user id is cached in Redis after the first use).
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token_for(make_user('bearer'))}"}
    grab(client, other.pk, **bearer)
    with CaptureAll() as q:
        assert grab(client, campaign.pk, **bearer).status_code == 200
        assert grab(client, campaign.pk, **bearer).status_code == 409
    assert q.count == 0, q.queries


def test_the_first_event_in_an_empty_queue_kicks_the_drain(auth_client, make_user):
    from project.tasks import KICK_KEY

    campaign = make_campaign()
    r = get_redis()
    assert not r.exists(KICK_KEY)
    grab(auth_client, campaign.pk)
    assert r.exists(KICK_KEY)
