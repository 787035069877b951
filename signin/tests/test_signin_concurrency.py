import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from signin import rules, services
from signin.models import SignIn
from signin.tests.parallel import fifty_parallel_clicks_pay_once
from usercenter.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL_CLICKS = 50
USERS = 1000
THREADS = 24


def test_fifty_parallel_signins_by_one_user_give_one_row_one_entry_one_reward(user):
    fifty_parallel_clicks_pay_once(user, "/api/signin/")


def test_a_thousand_users_signing_in_at_once_get_a_thousand_rows_and_rewards():
    user_model = get_user_model()
    users = user_model.objects.bulk_create([user_model(username=f"rush{i}") for i in range(USERS)])
    ids = [u.pk for u in users]
    barrier = threading.Barrier(THREADS)

    def sign(chunk):
        try:
            barrier.wait(timeout=30)
            # every user clicks twice: the second must be `already` and pay nothing
            return [services.signin_perform(user_id=uid) for uid in chunk] + [
                services.signin_perform(user_id=uid) for uid in chunk
            ]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(THREADS) as pool:
        results = [a for chunk in pool.map(sign, [ids[i::THREADS] for i in range(THREADS)]) for a in chunk]

    assert sum(not a["already"] for a in results) == USERS
    assert sum(a["already"] for a in results) == USERS
    today = rules.today()
    assert SignIn.objects.filter(date=today).count() == USERS
    ledger = LedgerEntry.objects.filter(kind="signin_reward")
    assert ledger.count() == USERS
    assert sorted(ledger.values_list("reference", flat=True)) == sorted(f"signin:{u}:{today}" for u in ids)
    assert sum(ledger.values_list("points", flat=True)) == 10 * USERS
    assert sum(Wallet.objects.filter(user_id__in=ids).values_list("points", flat=True)) == 10 * USERS


def test_fifty_parallel_signins_over_http_on_gunicorn_pay_once(live_gunicorn, user, token_for):
    token = token_for(user)
    barrier = threading.Barrier(PARALLEL_CLICKS)

    def click(_):
        barrier.wait(timeout=30)
        req = urllib.request.Request(
            live_gunicorn.url + "/api/signin/", method="POST", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read())

    with ThreadPoolExecutor(PARALLEL_CLICKS) as pool:
        answers = list(pool.map(click, range(PARALLEL_CLICKS)))
    assert {s for s, _ in answers} == {200}
    assert sum(not a["already"] for _, a in answers) == 1
    assert SignIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
    assert Wallet.objects.get(user=user).points == 10
