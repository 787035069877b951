import pytest

from usercenter import services

pytestmark = [pytest.mark.disruptive, pytest.mark.django_db]


def test_me_and_home_answer_from_the_database_while_redis_is_down(client, user, token_for, devstack):
    services.profile_update(user_id=user.pk, nickname="Still here")
    token = token_for(user)
    devstack.stop("redis")
    res = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert res.status_code == 200 and res.json()["nickname"] == "Still here"
    res = client.get("/api/home/")
    assert res.status_code == 200 and "products" in res.json()
    res = client.patch(
        "/api/me/",
        {"nickname": "Changed offline"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert res.status_code == 200 and res.json()["nickname"] == "Changed offline"
