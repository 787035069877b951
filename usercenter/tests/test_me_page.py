import pytest

from project.testing import CaptureAll
from usercenter import services
from usercenter.context_processors import nav

pytestmark = pytest.mark.django_db


def test_me_page_needs_a_login(client):
    res = client.get("/me/")
    assert res.status_code == 302 and res["Location"].startswith("/login/")


def test_me_page_shows_balance_points_ledger_and_links(auth_client, user):
    services.profile_update(user_id=user.pk, nickname="Ally")
    services.wallet_credit(user_id=user.pk, kind="signin_reward", reference="s1", points=15, memo="day 1")
    html = auth_client.get("/me/").content.decode()
    assert 'data-testid="me-display-name">Ally<' in html
    assert "Sign-in reward" in html and "+15" in html
    for link in ('href="/orders/"', 'href="/redpackets/"', 'href="/signin/"'):
        assert link in html
    assert 'data-testid="nav-user">Ally<' in html


def test_plain_form_post_saves_and_redirects(auth_client):
    res = auth_client.post("/me/", {"nickname": "Posted", "avatar": "", "bio": "x"})
    assert res.status_code == 302
    assert "Posted" in auth_client.get("/me/").content.decode()


def test_plain_form_post_with_errors_is_400_with_messages(auth_client):
    res = auth_client.post("/me/", {"nickname": "n" * 41, "avatar": "nope", "bio": ""})
    assert res.status_code == 400
    assert "at most 40 characters" in res.content.decode()


def test_nav_name_is_the_nickname_from_the_hash_with_zero_sql(rf, user):
    services.profile_update(user_id=user.pk, nickname="Nav Nick")
    request = rf.get("/")
    request.user = user
    assert str(nav(request)["nav_name"]) == "Nav Nick"  # fills the hash
    with CaptureAll() as q:
        assert str(nav(request)["nav_name"]) == "Nav Nick"
    assert q.count == 0


def test_nav_name_falls_back_to_the_username(rf, user):
    request = rf.get("/")
    request.user = user
    assert str(nav(request)["nav_name"]) == "alice"
