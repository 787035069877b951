"""The load harness's baseline: the grab done under SELECT ... FOR UPDATE in the request."""

import threading

import pytest
from django.db import connections
from django.db.models import Sum

from loadtest.baselines import services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign
from usercenter.models import LedgerEntry


def url(campaign):
    return f"/api/bench/redpackets/{campaign.pk}/grab-naive/"


@pytest.mark.django_db
def test_naive_grab_writes_the_row_and_credit_in_the_request(auth_client, user):
    campaign = make_campaign(total=1000, count=2, open=False)
    res = auth_client.post(url(campaign))
    assert res.status_code == 200
    amount = res.json()["amount_cents"]
    assert Grab.objects.get(campaign=campaign, user=user).amount_cents == amount
    assert auth_client.post(url(campaign)).json()["amount_cents"] == amount
    assert auth_client.post(url(campaign)).status_code == 409


@pytest.mark.django_db(transaction=True)
def test_parallel_naive_grabs_never_oversell(make_user):
    campaign = make_campaign(total=500, count=5, open=False)
    users = [make_user(f"n{i}") for i in range(12)]
    barrier = threading.Barrier(len(users))
    statuses = []

    def go(u):
        try:
            barrier.wait()
            statuses.append(services.grab_naive(user_id=u.pk, campaign_id=campaign.pk).status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [410] * 7
    assert Grab.objects.filter(campaign=campaign).aggregate(s=Sum("amount_cents"))["s"] == 500
    assert LedgerEntry.objects.filter(kind="redpacket_grab").aggregate(s=Sum("amount_cents"))["s"] == 500
