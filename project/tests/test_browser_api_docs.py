"""Swagger UI at /api/docs/ renders the whole schema from the app's own static files."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_every_operation_and_fetches_nothing_from_outside(page, live_server):
    outside = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary", timeout=15000)
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/api/redpackets/{campaign_id}/grab/", "/api/signin/", "/api/orders/", "/api/me/"} <= {
        p.replace("\u200b", "") for p in paths
    }
    assert page.locator(".opblock").count() >= 19
    assert not outside, outside
    assert not errors, errors
