import pytest

from project.testing import CaptureAll

pytestmark = pytest.mark.django_db


def test_register_returns_201_with_a_token(client):
    res = client.post(
        "/api/auth/register/", {"username": "carol", "password": "long-enough-pw"}, content_type="application/json"
    )
    assert res.status_code == 201
    body = res.json()
    assert body["username"] == "carol" and body["id"] > 0 and len(body["token"]) > 20


def test_register_rejects_duplicate_and_weak_passwords_with_400(client, user):
    res = client.post(
        "/api/auth/register/", {"username": "alice", "password": "long-enough-pw"}, content_type="application/json"
    )
    assert res.status_code == 400 and "username" in res.json()
    res = client.post("/api/auth/register/", {"username": "dave", "password": "123"}, content_type="application/json")
    assert res.status_code == 400 and "password" in res.json()
    res = client.post("/api/auth/register/", {"username": "dave"}, content_type="application/json")
    assert res.status_code == 400 and "password" in res.json()


def test_login_gives_a_token_that_authenticates(client, user):
    res = client.post(
        "/api/auth/login/", {"username": "alice", "password": "surge-pass-123"}, content_type="application/json"
    )
    assert res.status_code == 200
    token = res.json()["token"]
    res = client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert res.status_code == 200 and res.json()["username"] == "alice"


def test_wrong_password_is_400(client, user):
    res = client.post(
        "/api/auth/login/", {"username": "alice", "password": "nope-nope-nope"}, content_type="application/json"
    )
    assert res.status_code == 400
    assert "Wrong" in res.json()["detail"]


def test_bad_token_is_401_json(client):
    res = client.get("/api/auth/whoami/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert res.status_code == 401
    assert res["Content-Type"] == "application/json"
    assert res.json()["detail"] == "Invalid or expired token."


def test_anonymous_api_call_is_401_json(client):
    res = client.get("/api/auth/whoami/")
    assert res.status_code == 401 and res.json()["detail"]


def test_token_request_on_cache_hit_runs_zero_sql(client, user, token_for):
    token = token_for(user)
    assert client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200  # warms caches
    with CaptureAll() as q:
        res = client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert res.status_code == 200
    assert q.count == 0


def test_session_request_on_cache_hit_runs_zero_sql(client, user):
    assert client.post("/login/", {"username": "alice", "password": "surge-pass-123"}).status_code == 302
    assert client.get("/api/auth/whoami/").status_code == 200
    with CaptureAll() as q:
        res = client.get("/api/auth/whoami/")
    assert res.status_code == 200 and res.json()["username"] == "alice"
    assert q.count == 0


def test_revoked_token_stops_working(client, user, token_for, django_capture_on_commit_callbacks):
    token = token_for(user)
    assert client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 204
    assert client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_deactivated_user_is_refused_even_with_a_cached_copy(
    client, user, token_for, django_capture_on_commit_callbacks
):
    token = token_for(user)
    assert client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save(update_fields=["is_active"])
    assert client.get("/api/auth/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_register_page_logs_the_user_in(client):
    res = client.post("/register/", {"username": "erin", "password": "long-enough-pw", "password2": "long-enough-pw"})
    assert res.status_code == 302
    assert client.get("/api/auth/whoami/").json()["username"] == "erin"


def test_register_page_shows_errors_with_400(client):
    res = client.post("/register/", {"username": "erin", "password": "long-enough-pw", "password2": "different-pw"})
    assert res.status_code == 400
    assert b"The two passwords differ." in res.content


@pytest.mark.disruptive
def test_session_users_stay_logged_in_while_redis_is_down(client, user, devstack):
    assert client.post("/login/", {"username": "alice", "password": "surge-pass-123"}).status_code == 302
    devstack.stop("redis")
    res = client.get("/api/auth/whoami/")
    assert res.status_code == 200 and res.json()["username"] == "alice"
    assert client.get("/").status_code == 200
    # Logging out works too, and the session is gone from the database.
    assert client.post("/logout/").status_code == 302
    assert client.get("/api/auth/whoami/").status_code == 401


@pytest.mark.disruptive
def test_logging_in_while_redis_is_down_works(client, user, devstack):
    devstack.stop("redis")
    assert client.post("/login/", {"username": "alice", "password": "surge-pass-123"}).status_code == 302
    assert client.get("/api/auth/whoami/").json()["username"] == "alice"
