"""In a real browser: log in, open the campaign page, grab, see the amount and the balance."""

import pytest

from project.queue import drain_all
from project.testing import browser_login
from redpackets.tests.factories import make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def money(cents: int) -> str:
    return f"¥{cents / 100:.2f}"


def test_grab_shows_the_amount_then_the_balance_goes_up(page, make_user):
    make_user("grabber")
    campaign = make_campaign(total=5000, count=5, title="Browser packet")
    browser_login(page, "grabber")
    page.goto("/redpackets/")
    page.get_by_test_id("campaign").first.click()
    page.wait_for_url(f"**/redpackets/{campaign.pk}/")
    page.wait_for_function("() => document.querySelector('[data-testid=countdown]').textContent.startsWith('Open')")
    assert page.get_by_test_id("remaining").inner_text() == "5"
    assert page.get_by_test_id("balance").inner_text() == "¥0.00"
    page.get_by_test_id("grab").click()
    amount_text = page.get_by_test_id("grab-amount").inner_text()
    assert amount_text.startswith("¥")
    assert page.get_by_test_id("grab").is_disabled()
    drain_all()  # what the worker does within a second
    # The page polls: the remaining count and the balance follow.
    page.wait_for_function("() => document.querySelector('[data-testid=remaining]').textContent === '4'")
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=balance]').textContent === {amount_text!r}", timeout=10000
    )
    page.reload()
    assert amount_text in page.get_by_test_id("my-grabs").inner_text()


def test_a_packet_not_open_yet_shows_the_reason(page, make_user):
    make_user("early")
    campaign = make_campaign(starts_in=3600)
    browser_login(page, "early")
    page.goto(f"/redpackets/{campaign.pk}/")
    assert page.get_by_test_id("countdown").inner_text().startswith("Opens in")
    page.get_by_test_id("grab").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=grab-result]').textContent.includes('not opened')"
    )


def test_the_campaign_page_fits_a_phone(browser, live_server):
    campaign = make_campaign()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto(f"/redpackets/{campaign.pk}/")
        box = page.get_by_test_id("campaign").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
    finally:
        context.close()
