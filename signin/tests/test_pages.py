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
