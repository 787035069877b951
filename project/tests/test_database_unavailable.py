"""A request that must write while the primary is gone answers 503 JSON with Retry-After, never a
500, and the next request after the primary is back works on a fresh connection."""

import pytest
import requests
from django.db import connections

from usercenter.auth import cached_user, verify_token

pytestmark = [pytest.mark.disruptive, pytest.mark.django_db(transaction=True)]


def test_writes_answer_503_with_retry_after_while_the_primary_is_stopped_then_work_again(
    live_gunicorn, devstack, make_user, token_for
):
    user = make_user("writer")
    token = token_for(user)
    cached_user(verify_token(token))  # what an earlier request did: the user is cached in Redis
    headers = {"Authorization": f"Bearer {token}"}
    connections.close_all()
    devstack.stop("primary")
    try:
        # A plain JSON view writing in a transaction (sign-in on a cache miss) ...
        res = requests.post(f"{live_gunicorn.url}/api/signin/", headers=headers, timeout=20)
        assert res.status_code == 503, res.text
        assert res.headers["Retry-After"] == "5"
        assert "temporarily unavailable" in res.json()["detail"]
        # ... and a DRF view (register), both the same 503.
        res = requests.post(
            f"{live_gunicorn.url}/api/auth/register/",
            json={"username": "newcomer", "password": "surge-pass-123"},
            timeout=20,
        )
        assert res.status_code == 503, res.text
        assert res.headers["Retry-After"] == "5"
        assert res.headers["Content-Type"].startswith("application/json")
    finally:
        devstack.start("primary")
        connections.close_all()
    res = requests.post(f"{live_gunicorn.url}/api/signin/", headers=headers, timeout=20)
    assert res.status_code == 200, res.text
