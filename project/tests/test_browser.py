import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_register_log_in_see_the_navigation_and_log_out(page):
    # Register
    page.goto("/register/")
    page.fill("input[name=username]", "browser-user")
    page.fill("input[name=password]", "a-long-password-1")
    page.fill("input[name=password2]", "a-long-password-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    nav = page.get_by_test_id("nav")
    assert nav.get_by_test_id("nav-user").inner_text() == "browser-user"
    for label in ("Home", "Sign-in", "Red packets", "Orders", "Me"):
        assert nav.get_by_role("link", name=label, exact=True).is_visible()
    # Log out
    page.get_by_test_id("logout").click()
    page.wait_for_selector("[data-testid=login-link]")
    assert page.get_by_test_id("nav-user").count() == 0
    # Log in again
    page.get_by_test_id("login-link").click()
    page.fill("input[name=username]", "browser-user")
    page.fill("input[name=password]", "a-long-password-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=nav-user]")
    assert page.get_by_test_id("nav-user").inner_text() == "browser-user"


def test_wrong_password_shows_an_error(page, make_user):
    make_user("someone")
    page.goto("/login/")
    page.fill("input[name=username]", "someone")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "correct username and password" in page.locator(".form-error").inner_text()
