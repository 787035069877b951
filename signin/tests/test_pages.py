import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from signin.tests.factories import past_signins

pytestmark = pytest.mark.django_db(transaction=True)


def test_signin_page_needs_a_login(client):
    res = client.get("/signin/")
    assert res.status_code == 302
    assert res["Location"].startswith("/login/")


def test_signin_page_renders_the_calendar_data(auth_client):
    res = auth_client.get("/signin/")
    assert res.status_code == 200
    html = res.content.decode()
    assert 'data-testid="signin-button"' in html
    assert 'id="signin-calendar"' in html


def test_signin_page_ignores_a_bad_month(auth_client):
    assert auth_client.get("/signin/?month=nope").status_code == 200


def test_admin_lists_and_filters_signins_without_n_plus_one(client, make_user):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")
    for i in range(5):
        past_signins(make_user(f"u{i}"), [dt.date(2026, 4, 9), dt.date(2026, 4, 10)])
    client.force_login(admin, backend="usercenter.auth.CachedUserBackend")
    res = client.get("/admin/signin/signin/", {"date__gte": "2026-04-10", "date__lt": "2026-04-11"})
    assert res.status_code == 200
    assert res.context["cl"].result_count == 5
    assert client.get("/admin/signin/signin/?date__year=2026&date__month=4").status_code == 200


def test_admin_action_rebuilds_the_calendar_of_the_selected_rows(client, make_user):
    from project.redis import get_redis
    from signin import rules
    from signin.models import SignIn

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")
    u = make_user("drifted")
    past_signins(u, [dt.date(2026, 4, 9), dt.date(2026, 4, 10)])
    get_redis().set(rules.bitmap_key(u.pk, 2026, 4), rules.bitmap_bytes([1]))
    client.force_login(admin, backend="usercenter.auth.CachedUserBackend")
    res = client.post(
        "/admin/signin/signin/",
        {"action": "rebuild_cache", "_selected_action": list(SignIn.objects.values_list("pk", flat=True))},
        follow=True,
    )
    assert "Rebuilt 1 user-month calendar(s)." in res.content.decode()
    assert rules.bitmap_decode(get_redis().get(rules.bitmap_key(u.pk, 2026, 4))) == (True, [9, 10])
