import pytest

from project.testing import browser_login
from signin import rules

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_from_the_calendar_page_and_see_today_marked(page, make_user):
    make_user("walker", password="a-long-password-1")
    browser_login(page, "walker", "a-long-password-1", next_url="/signin/")
    page.wait_for_url("**/signin/")

    today = rules.today().isoformat()
    cell = page.get_by_test_id(f"day-{today}")
    assert "signed" not in cell.get_attribute("class").split()
    assert page.get_by_test_id("signin-points").inner_text() == "0"

    page.get_by_test_id("signin-button").click()
    page.wait_for_selector(f"[data-testid=day-{today}].signed")
    assert "+10 points" in page.get_by_test_id("signin-message").inner_text()
    assert page.get_by_test_id("signin-streak").inner_text() == "1"
    assert page.get_by_test_id("signin-points").inner_text() == "10"
    assert page.get_by_test_id("signin-button").is_disabled()

    # previous month and back
    page.get_by_test_id("month-prev").click()
    page.wait_for_selector(f"[data-testid=day-{today}]", state="detached")
    page.get_by_test_id("month-next").click()
    page.wait_for_selector(f"[data-testid=day-{today}].signed")

    page.reload()
    assert "signed" in page.get_by_test_id(f"day-{today}").get_attribute("class").split()
    assert page.get_by_test_id("signin-button").inner_text() == "Signed in today"
