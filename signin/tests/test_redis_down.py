import pytest

from project.redis import get_redis
from signin import rules, selectors, services
from signin.models import SignIn
from signin.tasks import repair_cache
from usercenter.models import LedgerEntry, Wallet

pytestmark = [pytest.mark.disruptive, pytest.mark.django_db(transaction=True)]


def test_with_redis_stopped_signin_succeeds_once_and_only_once_and_is_repaired_later(client, user, token_for, devstack):
    # A bearer token: Django's cached_db session store re-raises when it cannot write the
    # session back to a dead cache (kernel issue reported), the token path falls back cleanly.
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_for(user)}"
    auth_client = client
    devstack.stop("redis")

    first = auth_client.post("/api/signin/")
    second = auth_client.post("/api/signin/")
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["already"], first.json()["points_awarded"]) == (False, 10)
    assert (second.json()["already"], second.json()["points_awarded"]) == (True, 0)
    assert SignIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
    assert Wallet.objects.get(user=user).points == 10
    # reads still work from the database
    calendar = auth_client.get("/api/signin/calendar/")
    assert calendar.status_code == 200
    assert calendar.json()["days"] == [rules.today().day]
    assert selectors.signin_summary(user_id=user.pk)["signed_today"] is True
    assert repair_cache() == 0  # still down: postponed, nothing lost
    assert SignIn.objects.get(user=user).cache_synced is False

    devstack.start("redis")
    get_redis().flushdb()
    assert repair_cache() == 1
    today = rules.today()
    assert get_redis().getbit(rules.bitmap_key(user.pk, today.year, today.month), today.day - 1) == 1
    assert SignIn.objects.get(user=user).cache_synced is True
    assert services.signin_cache_repair() == 0
    assert auth_client.post("/api/signin/").json()["already"] is True
    assert LedgerEntry.objects.filter(user=user).count() == 1
