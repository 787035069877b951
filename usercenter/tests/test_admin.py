import pytest

from project import testing
from project.redis import get_redis
from usercenter import selectors, services
from usercenter.models import Announcement, Profile

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["announcement", "profile", "wallet", "ledgerentry", "apitoken", "revokedtoken"])
def test_changelists_render(admin_client, user, model):
    services.wallet_credit(user_id=user.pk, kind="adjustment", reference="a", amount_cents=1)
    services.token_revoke(raw=services.token_issue(user_id=user.pk))
    Announcement.objects.create(title="hello")
    res = admin_client.get(f"/admin/usercenter/{model}/")
    assert res.status_code == 200


def test_rebuild_action_rebuilds_the_home_document_now(admin_client):
    selectors.home_document()
    a = Announcement.objects.create(title="rebuilt by action")
    res = admin_client.post(
        "/admin/usercenter/announcement/",
        {"action": "rebuild_home_now", "_selected_action": [a.pk]},
        follow=True,
    )
    res = testing.admin_confirm(admin_client, res)
    assert "home document rebuilt" in res.content.decode()
    selectors.home_cache.clear_local()
    assert selectors.home_document()["announcements"][0]["title"] == "rebuilt by action"


@pytest.mark.django_db(transaction=True)
def test_saving_an_announcement_schedules_a_rebuild_instead_of_rebuilding(admin_client):
    doc = selectors.home_document()
    res = admin_client.post(
        "/admin/usercenter/announcement/add/", {"title": "queued", "body": "", "sort_order": "0", "is_active": "on"}
    )
    assert res.status_code == 302
    assert get_redis().exists(services.HOME_REBUILD_PENDING_KEY)
    selectors.home_cache.clear_local()
    assert selectors.home_document() == doc  # requests keep reading the cache meanwhile


@pytest.mark.django_db(transaction=True)
def test_profile_edit_in_admin_refreshes_the_cached_hash(admin_client, user):
    selectors.me_get(user_id=user.pk)
    res = admin_client.post(
        f"/admin/usercenter/profile/{user.pk}/change/", {"nickname": "Set by staff", "avatar": "", "bio": ""}
    )
    assert res.status_code == 302
    assert Profile.objects.get(user=user).nickname == "Set by staff"
    assert get_redis().hget(services.user_hash_key(user.pk), "nickname") == b"Set by staff"


def test_deleting_a_token_in_the_admin_revokes_it(admin_client, user, django_capture_on_commit_callbacks):
    from usercenter import auth
    from usercenter.models import ApiToken, RevokedToken

    raw = services.token_issue(user_id=user.pk)
    token = ApiToken.objects.get(key_hash=auth.hash_token(raw))
    with django_capture_on_commit_callbacks(execute=True):
        res = admin_client.post(f"/admin/usercenter/apitoken/{token.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302
    assert RevokedToken.objects.filter(key_hash=token.key_hash).exists()
    assert auth.verify_token(raw) is None
    assert admin_client.get("/admin/usercenter/revokedtoken/").status_code == 200
