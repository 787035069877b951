import pytest

from orders import services
from orders.models import Product
from orders.tests.factories import make_flash_product, make_orders, make_product
from project.queue import drain_all
from project.testing import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buy_a_product_and_see_it_at_the_top_of_my_orders(page, make_user):
    user = make_user("shopper")
    make_orders(user=user, product=make_product(name="Old purchase"), count=3)
    product = make_product(name="Shiny Teapot", stock=3, price_cents=2599)
    browser_login(page, "shopper")
    page.goto("/orders/")  # page 1 is now cached without the teapot
    assert page.get_by_test_id("order-row").count() == 3
    page.goto(f"/products/{product.pk}/")
    assert page.get_by_test_id("price").inner_text() == "¥25.99"
    page.get_by_test_id("buy").click()
    page.get_by_test_id("see-orders").wait_for()
    assert "placed" in page.get_by_test_id("buy-result").inner_text()
    page.get_by_test_id("see-orders").click()
    page.wait_for_url("**/orders/")
    rows = page.get_by_test_id("order-row")
    assert rows.count() == 4
    assert rows.first.get_by_test_id("order-product").inner_text() == "Shiny Teapot"
    assert Product.objects.get(pk=product.pk).stock == 2


def test_the_product_list_works_on_a_phone(browser, live_server):
    for i in range(5):
        make_product(name=f"Phone item {i}")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto("/products/")
        cards = page.get_by_test_id("product-card")
        assert cards.count() == 5
        box = cards.first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    finally:
        context.close()


def test_flash_buy_shows_the_countdown_then_the_created_order(page, make_user):
    make_user("flasher")
    product = make_flash_product(name="Flash Kettle", stock=3)
    services.flash_open(product_id=product.pk)
    browser_login(page, "flasher")
    page.goto(f"/products/{product.pk}/")
    page.wait_for_function("() => document.querySelector('[data-testid=countdown]').textContent.startsWith('Live')")
    page.get_by_test_id("buy").click()
    page.wait_for_function("() => document.querySelector('[data-testid=buy-result]').textContent.includes('Writing')")
    drain_all(time_budget=5)  # what the worker does; the page is polling the token meanwhile
    page.get_by_test_id("see-orders").wait_for()
    assert "created" in page.get_by_test_id("buy-result").inner_text()
    page.get_by_test_id("see-orders").click()
    page.wait_for_url("**/orders/")
    assert page.get_by_test_id("order-row").first.get_by_test_id("order-product").inner_text() == "Flash Kettle"
