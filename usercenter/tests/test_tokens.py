"""Signed bearer tokens: verified in-process, revoked through a durable table and a Redis list
that every process re-reads at most every AUTH_REVOCATION_CHECK_SECONDS."""

import time

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from project import counters
from project.redis import get_redis
from project.testing import CaptureAll
from usercenter import auth, services
from usercenter.models import ApiToken, RevokedToken

pytestmark = [pytest.mark.django_db, pytest.mark.urls("usercenter.tests.urls")]

BARE_AUTH = "/api/test/auth-only/"  # the same authentication as the hot paths, nothing else


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_token_request_costs_no_sql_and_no_redis_once_the_revocation_list_is_fresh(client, make_user, token_for):
    token = token_for(make_user("warm"))
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 200  # this process reads the list once
    # A user this process has never seen (a storm: each user comes once): still no lookup.
    newcomer = make_user("newcomer")
    token = token_for(newcomer)
    redis_before = counters.snapshot()[1]
    with CaptureAll() as q:
        res = client.get(BARE_AUTH, **bearer(token))
    assert res.status_code == 200 and res.json()["user_id"] == newcomer.pk
    assert q.count == 0
    assert counters.snapshot()[1] == redis_before


def test_the_list_version_is_read_again_after_the_check_interval(client, user, token_for, settings):
    settings.AUTH_REVOCATION_CHECK_SECONDS = 0.2
    token = token_for(user)
    client.get(BARE_AUTH, **bearer(token))
    time.sleep(0.25)
    before = counters.snapshot()[1]
    client.get(BARE_AUTH, **bearer(token))
    assert counters.snapshot()[1] - before == 1  # one GET of the version; the set did not change


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "9" + t,  # another user id, same signature
        lambda t: t.split(":")[0],  # no timestamp or signature
        lambda t: "not-a-token",
    ],
    ids=["signature", "user-id", "unsigned", "garbage"],
)
def test_a_forged_token_is_401_without_touching_any_store(client, user, token_for, mangle):
    token = token_for(user)
    redis_before = counters.snapshot()[1]
    with CaptureAll() as q:
        res = client.get(BARE_AUTH, **bearer(mangle(token)))
    assert res.status_code == 401 and res.json()["detail"] == "Invalid or expired token."
    assert res["WWW-Authenticate"] == 'Bearer realm="api"'
    assert q.count == 0 and counters.snapshot()[1] == redis_before


def test_an_expired_token_is_401(client, user, token_for, settings, time_machine):
    settings.API_TOKEN_MAX_AGE_SECONDS = 3600
    token = token_for(user)
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 200
    time_machine.move_to(timezone.now() + timezone.timedelta(hours=2), tick=False)
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 401


def test_tokens_survive_a_key_rotation_through_secret_key_fallbacks(client, user, token_for, settings):
    token = token_for(user)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-key-" + "x" * 40
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 401


def test_revoking_writes_a_durable_record_and_the_redis_list(user, token_for, django_capture_on_commit_callbacks):
    token = token_for(user)
    auth.revoked.refresh(force=True)  # the list exists in Redis (any request, or beat, creates it)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.token_revoke(raw=token) is True
    row = RevokedToken.objects.get(key_hash=auth.hash_token(token))
    assert row.user_id == user.pk and row.expires_at > timezone.now()
    assert get_redis().zscore(auth.REVOKED_KEY, row.key_hash) == pytest.approx(row.expires_at.timestamp())
    assert auth.verify_token(token) is None
    assert services.token_revoke(raw=token) is False  # a second logout is harmless


def test_deleting_a_user_revokes_their_tokens(client, user, token_for, django_capture_on_commit_callbacks):
    token, user_id = token_for(user), user.pk
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 401
    assert RevokedToken.objects.filter(user_id=user_id).count() == 1


def test_revoking_all_tokens_of_a_user(client, user, token_for, django_capture_on_commit_callbacks):
    tokens = [token_for(user) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.tokens_revoke_for_user(user_id=user.pk) == 3
    assert all(client.get(BARE_AUTH, **bearer(t)).status_code == 401 for t in tokens)


def test_a_view_that_loads_a_disabled_user_answers_403_not_500(client, user, token_for):
    """A user disabled without signals (a bulk UPDATE): the token still verifies, but any view
    that needs more of the user than the id refuses."""
    token = token_for(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    auth.invalidate_user(user.pk)
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 200  # knows only the id
    res = client.get("/api/auth/whoami/", **bearer(token))
    assert res.status_code == 403 and res.json()["detail"] == "This account no longer exists or is disabled."


def test_redis_losing_the_list_rebuilds_it_from_the_table(client, user, token_for, django_capture_on_commit_callbacks):
    token = token_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.token_revoke(raw=token)
    get_redis().flushdb()  # Redis restarted empty
    auth.revoked.reset()  # and this process's copy is stale
    assert client.get(BARE_AUTH, **bearer(token)).status_code == 401
    assert get_redis().exists(auth.REVOKED_VERSION_KEY)


def test_the_sync_publishes_a_revocation_redis_missed_and_prunes_expired_ones(user, token_for):
    token = token_for(user)
    fresh = auth.hash_token(token)
    # A revocation whose publish never reached Redis (it was unreachable at commit time).
    RevokedToken.objects.create(key_hash=fresh, user_id=user.pk, expires_at=timezone.now() + timezone.timedelta(days=1))
    old = RevokedToken.objects.create(key_hash="0" * 64, user_id=user.pk, expires_at=timezone.now())
    auth.sync_revocations(prune=False)  # the list exists; this token is not on it yet
    get_redis().zrem(auth.REVOKED_KEY, fresh)
    auth.revoked.refresh(force=True)
    assert auth.verify_token(token) == user.pk  # missed
    result = auth.sync_revocations()
    assert result["rewritten"] is True and result["pruned"]["revocations"] == 1
    assert not RevokedToken.objects.filter(pk=old.pk).exists()
    auth.revoked.refresh(force=True)
    assert auth.verify_token(token) is None
    assert auth.sync_revocations()["rewritten"] is False  # nothing to do the second time


@pytest.mark.disruptive
def test_while_redis_is_down_tokens_are_checked_in_the_database(
    client, user, token_for, devstack, django_capture_on_commit_callbacks
):
    good, bad = token_for(user), token_for(user)
    devstack.stop("redis")
    auth.revoked.reset()
    with django_capture_on_commit_callbacks(execute=True):
        services.token_revoke(raw=bad)  # Redis cannot hear of it
    with CaptureAll() as q:
        assert client.get(BARE_AUTH, **bearer(good)).status_code == 200
    assert q.count == 1  # the token's row, on the primary
    assert client.get(BARE_AUTH, **bearer(bad)).status_code == 401
    devstack.start("redis")
    auth.sync_revocations()  # beat's next tick
    auth.revoked.refresh(force=True)
    assert client.get(BARE_AUTH, **bearer(bad)).status_code == 401
    assert client.get(BARE_AUTH, **bearer(good)).status_code == 200


def test_another_process_refuses_a_revoked_token_within_the_check_interval(live_gunicorn, make_user, token_for):
    """Two real gunicorn worker processes; the revocation happens in this one."""
    user = make_user("remote")
    token = token_for(user)
    url = f"{live_gunicorn.url}/api/auth/whoami/"  # a server runs the product's URLs
    headers = {"Authorization": f"Bearer {token}"}
    assert all(requests.get(url, headers=headers, timeout=5).status_code == 200 for _ in range(6))
    services.token_revoke(raw=token)  # autocommit here: published at once
    revoked_at = time.monotonic()
    deadline = revoked_at + 5
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(requests.get(url, headers=headers, timeout=5).status_code)
        if statuses[-8:] == [401] * 8:  # both workers refuse it
            break
        time.sleep(0.05)
    took = time.monotonic() - revoked_at
    assert statuses[-8:] == [401] * 8, statuses
    assert took < 1.0 + 1.0  # AUTH_REVOCATION_CHECK_SECONDS, plus slack for a busy machine


def test_tokens_command_lists_revokes_and_syncs(user, token_for, capsys):
    token_for(user)
    token_for(user)
    call_command("tokens", "list", "--user", str(user.pk))
    out = capsys.readouterr().out
    assert out.count(f"user {user.pk}") >= 2 or "2 token(s)" in out
    call_command("tokens", "revoke", "--user", str(user.pk))
    assert "revoked 2 token(s)" in capsys.readouterr().out
    assert not ApiToken.objects.filter(user=user).exists()
    call_command("tokens", "sync")
    assert "revoked tokens listed: 2" in capsys.readouterr().out


def test_a_checked_signature_is_remembered_but_age_and_revocation_are_checked_every_time(
    user, token_for, settings, time_machine, django_capture_on_commit_callbacks
):
    settings.API_TOKEN_MAX_AGE_SECONDS = 3600
    token = token_for(user)
    auth.revoked.refresh(force=True)
    assert auth.verify_token(token) == user.pk
    hits = auth._signed.cache_info().hits  # noqa: SLF001  the process-local cache under test
    assert auth.verify_token(token) == user.pk
    assert auth._signed.cache_info().hits == hits + 1  # noqa: SLF001  no HMAC the second time
    # Revoked after it was remembered: refused.
    with django_capture_on_commit_callbacks(execute=True):
        services.token_revoke(raw=token)
    assert auth.verify_token(token) is None
    # Expired after it was remembered: refused.
    other = token_for(user)
    assert auth.verify_token(other) == user.pk
    time_machine.move_to(timezone.now() + timezone.timedelta(hours=2), tick=False)
    assert auth.verify_token(other) is None


def test_a_forged_or_oversized_token_is_refused_and_oversized_ones_are_not_remembered(user, token_for):
    token = token_for(user)
    assert auth.verify_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    size = auth._signed.cache_info().currsize  # noqa: SLF001  the process-local cache under test
    assert auth.verify_token(token + "x" * 300) is None
    assert auth._signed.cache_info().currsize == size  # noqa: SLF001  the process-local cache under test
