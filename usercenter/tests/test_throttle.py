"""Abuse limits on log-in and sign-up: per client IP and per username, on the API, the HTML
forms and the admin's login; past the limit 429 with Retry-After, and no password is hashed."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = "surge-pass-123"


def _api_login(client, username, password, ip="10.1.1.1"):
    return client.post(
        "/api/auth/login/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def test_a_username_under_attack_is_locked_for_a_minute_even_with_the_right_password(client, user, settings):
    settings.LOGIN_RATE_PER_USERNAME = "3/m"
    for ip in ("10.1.1.1", "10.1.1.2", "10.1.1.3"):  # spread over IPs: the username counts
        assert _api_login(client, "alice", "wrong-password", ip).status_code == 400
    res = _api_login(client, "ALICE ", GOOD, "10.1.1.4")  # the same name, however written
    assert res.status_code == 429 and 1 <= int(res["Retry-After"]) <= 60
    assert res.json()["retry_after_seconds"] == int(res["Retry-After"])
    # Another account is not affected.
    get_user_model().objects.create_user(username="bob", password=GOOD)
    assert _api_login(client, "bob", GOOD, "10.1.1.4").status_code == 200


def test_one_address_trying_many_usernames_is_stopped(client, settings):
    settings.LOGIN_RATE_PER_IP = "4/m"
    statuses = [_api_login(client, f"guess{i}", "whatever-1", "10.2.2.2").status_code for i in range(6)]
    assert statuses == [400, 400, 400, 400, 429, 429]
    assert _api_login(client, "guess9", "whatever-1", "10.2.2.3").status_code == 400  # another address


def test_the_html_forms_and_the_admin_login_are_limited_too(client, user, settings):
    settings.LOGIN_RATE_PER_IP = "2/m"
    for path in ("/login/", "/admin/login/"):
        for _ in range(2):
            assert (
                client.post(path, {"username": "x", "password": "y"}, REMOTE_ADDR=f"10.3.3.{len(path)}").status_code
                == 200
            )
        res = client.post(path, {"username": "x", "password": "y"}, REMOTE_ADDR=f"10.3.3.{len(path)}")
        assert res.status_code == 429 and res["Retry-After"]
        assert "Too many attempts" in res.content.decode()


def test_sign_ups_are_limited_per_address_and_nothing_is_created_past_the_limit(client, settings):
    settings.REGISTER_RATE_PER_IP = "2/h"
    made = []
    for i in range(3):
        res = client.post(
            "/api/auth/register/",
            {"username": f"newbie{i}", "password": "a-long-password-1"},
            content_type="application/json",
            REMOTE_ADDR="10.4.4.4",
        )
        made.append(res.status_code)
    assert made == [201, 201, 429]
    assert not get_user_model().objects.filter(username="newbie2").exists()
    form = client.post(
        "/register/",
        {"username": "formie", "password": "a-long-password-1", "password2": "a-long-password-1"},
        REMOTE_ADDR="10.4.4.4",
    )
    assert form.status_code == 429 and not get_user_model().objects.filter(username="formie").exists()


def test_behind_the_load_balancer_the_client_address_is_nginxs_x_real_ip(client, settings):
    settings.LOGIN_RATE_PER_IP = "2/m"
    settings.THROTTLE_TRUST_X_REAL_IP = True
    for i in range(2):
        assert _api_login(client, f"u{i}", "pw-pw-pw-1", "127.0.0.1").status_code == 400
    # Same nginx peer, but a different client: not counted together.
    res = client.post(
        "/api/auth/login/",
        {"username": "u9", "password": "pw-pw-pw-1"},
        content_type="application/json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_REAL_IP="203.0.113.7",
    )
    assert res.status_code == 400


def test_with_redis_down_log_ins_still_work(client, user, settings, devstack):
    settings.LOGIN_RATE_PER_USERNAME = "1/m"
    devstack.stop("redis")
    for _ in range(3):
        assert _api_login(client, "alice", GOOD).status_code == 200
