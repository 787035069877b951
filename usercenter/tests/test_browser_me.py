import pytest

from project.testing import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_edit_the_nickname_and_see_it_in_the_navigation(page, make_user):
    make_user("nina", password="surge-pass-123")
    browser_login(page, "nina")
    page.goto("/me/")
    nav = page.locator("[data-testid=nav-user]")
    assert nav.inner_text() == "nina"

    page.fill("[data-testid=profile-nickname]", "Nina the Brave")
    page.click("[data-testid=profile-save]")
    page.wait_for_function("() => document.querySelector('[data-testid=profile-status]').textContent === 'Saved.'")
    assert nav.inner_text() == "Nina the Brave"

    page.reload()  # from the user's cached hash now
    assert page.locator("[data-testid=nav-user]").inner_text() == "Nina the Brave"
    assert page.locator("[data-testid=me-display-name]").inner_text() == "Nina the Brave"


def test_a_bad_avatar_shows_the_field_message(page, make_user):
    make_user("otto", password="surge-pass-123")
    browser_login(page, "otto")
    page.goto("/me/")
    page.fill("[data-testid=profile-avatar]", "javascript:alert(1)")
    page.click("[data-testid=profile-save]")
    error = page.locator("[data-error-for=avatar]")
    error.wait_for()
    page.wait_for_function("() => document.querySelector('[data-error-for=avatar]').textContent.length > 0")
    assert page.locator("[data-testid=nav-user]").inner_text() == "otto"


def test_home_page_renders_hot_list_and_announcements_on_a_phone(page, browser, live_server):
    from usercenter.models import Announcement

    Announcement.objects.create(title="Phone-size news", body="Hello")
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    phone = ctx.new_page()
    phone.goto("/")
    phone.wait_for_function("() => document.getElementById('home-data').dataset.source !== 'server'")
    assert phone.locator("[data-testid=announcement]").first.inner_text().startswith("Phone-size news")
    # No CDN file in this test: the script fell back to the API.
    assert phone.locator("#home-data").get_attribute("data-source") in {"api", "cdn"}
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    ctx.close()
