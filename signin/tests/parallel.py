"""The fifty-clicks race, shared by the product's sign-in and the load harness's naive one."""

import threading

from django.db import connections
from django.test import Client

from signin.models import SignIn
from usercenter.models import LedgerEntry, Wallet

PARALLEL_CLICKS = 50


def fifty_parallel_clicks_pay_once(user, url: str) -> None:
    """Fifty clients of one user POST `url` at once: one row, one ledger entry, one reward."""
    clients = []
    for _ in range(PARALLEL_CLICKS):
        c = Client()
        c.force_login(user, backend="usercenter.auth.CachedUserBackend")
        clients.append(c)
    barrier = threading.Barrier(PARALLEL_CLICKS)
    answers, errors = [], []

    def click(c):
        try:
            barrier.wait(timeout=30)
            res = c.post(url)
            answers.append((res.status_code, res.json()))
        except Exception as exc:  # noqa: BLE001  collected, and asserted empty below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert [s for s, _ in answers] == [200] * PARALLEL_CLICKS
    fresh = [a for _, a in answers if not a["already"]]
    already = [a for _, a in answers if a["already"]]
    assert len(fresh) == 1 and len(already) == PARALLEL_CLICKS - 1
    assert fresh[0]["points_awarded"] == 10
    assert all(a["points_awarded"] == 0 and a["streak"] == 1 for a in already)
    assert SignIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user, kind="signin_reward").count() == 1
    assert Wallet.objects.get(user=user).points == 10
