"""The control room in a real Chromium while a real grab storm runs through gunicorn and a Celery
worker drains it: the numbers move, end consistent with the database, and the page's actions
confirm, run once, and say so on a second click."""

from __future__ import annotations

import threading
import time

import pytest

from project import testing
from redpackets import keys
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SHARES = 150
GRABBERS = 400


def _field(page, campaign_id: int, field: str) -> str:
    return page.locator(f"[data-testid=redpackets-row-{campaign_id}] [data-field={field}]").inner_text()


def _admin_login(page, make_user) -> None:
    testing.admin_browser_login(page, make_user, next_url="/admin/controlroom/")
    page.wait_for_selector("[data-testid=controlroom]")


def test_an_admin_watches_a_grab_storm_and_acts_from_the_page(
    page, make_user, live_gunicorn, celery_worker_factory, settings
):
    settings.CONTROLROOM_REFRESH_SECONDS = 0.5
    campaign = make_campaign(total=SHARES * 100, count=SHARES)
    grabbers = make_grabbers(GRABBERS, "watched")
    _admin_login(page, make_user)
    page.wait_for_selector(f"[data-testid=redpackets-row-{campaign.pk}]")
    assert _field(page, campaign.pk, "accepted") == "0"

    # A storm of grabs through gunicorn while the admin watches; the worker drains it.
    celery_worker_factory("w1")
    url = f"{live_gunicorn.url}/api/redpackets/{campaign.pk}/grab/"
    results: list = []

    def waves():
        # Four waves a little over the page's refresh apart, so it sees the numbers between them.
        for i in range(0, GRABBERS, GRABBERS // 4):
            results.extend(testing.storm_http(url, grabbers[i : i + GRABBERS // 4], threads=6))
            time.sleep(1.5)

    storm = threading.Thread(target=waves)
    storm.start()
    seen = []
    deadline = time.monotonic() + 60
    while storm.is_alive() and time.monotonic() < deadline:
        seen.append(int(_field(page, campaign.pk, "accepted") or 0))
        time.sleep(0.2)
    storm.join(timeout=60)
    statuses = [s for _u, s, _b in results]
    assert statuses.count(200) == SHARES and set(statuses) <= {200, 410}, {s: statuses.count(s) for s in statuses}
    testing.wait_for_drain(keys.queue(campaign.pk), lambda: Grab.objects.filter(campaign=campaign).count(), SHARES)

    # The numbers moved while it ran, never backwards, and end as the database says.
    page.wait_for_function(
        """([id, n]) => {
             const row = document.querySelector(`[data-testid=redpackets-row-${id}]`);
             const f = (name) => row && row.querySelector(`[data-field=${name}]`).textContent;
             return f("accepted") === String(n) && f("persisted") === String(n) && f("queue_depth") === "0";
           }""",
        arg=[campaign.pk, SHARES],
        timeout=20000,
    )
    assert seen == sorted(seen) and any(0 < v < SHARES for v in seen), seen  # seen mid-storm
    assert _field(page, campaign.pk, "left") == f"0 / {SHARES}"
    assert _field(page, campaign.pk, "behind") == "0"
    assert Grab.objects.filter(campaign=campaign).count() == SHARES
    assert page.locator("[data-testid=chart-grabs] path").get_attribute("data-points") != "0"

    # An action from the page: shown, confirmed, run; the same form again runs nothing more.
    page.get_by_test_id(f"action-redpackets.reconcile-{campaign.pk}").click()
    page.wait_for_selector("[data-testid=confirm]")
    assert "agree: nothing to fix" in page.get_by_test_id("preview").inner_text()
    form = page.locator("[data-testid=confirm] form")
    fields = {
        name: form.locator(f"input[name={name}]").get_attribute("value")
        for name in ("csrfmiddlewaretoken", "action", "targets", "nonce", "next")
    }
    page.get_by_test_id("confirm-yes").click()
    page.wait_for_selector("[data-testid=controlroom]")
    assert "consistent, nothing to fix" in page.locator(".messagelist").inner_text()
    # The same form sent again (a double click, a resubmitted page), with the browser's cookies.
    again = page.request.post("/admin/controlroom/confirm/", form=fields)
    assert again.ok and "already done with this confirmation" in again.text()

    # A site-wide action and a user's caches, from the tools at the bottom of the page.
    page.get_by_test_id("action-usercenter.rebuild_home").click()
    page.get_by_test_id("confirm-yes").click()
    assert "home document rebuilt" in page.locator(".messagelist").inner_text()
    page.get_by_test_id("form-usercenter.rebuild_user").get_by_test_id("user-id").fill(str(grabbers[0][0]))
    page.get_by_test_id("form-usercenter.rebuild_user").locator("button").click()
    page.get_by_test_id("confirm-yes").click()
    assert f"user {grabbers[0][0]}: dropped" in page.locator(".messagelist").inner_text()
