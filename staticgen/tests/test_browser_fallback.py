"""Browser: the home page renders from the CDN's home.json; with the file removed it still
renders (from the API). SurgeCDN.load (staticgen/cdn.js) falls back on a miss or a stale copy."""

import json

import pytest

from orders.tests.factories import make_product
from staticgen import services

pytestmark = pytest.mark.browser


def home_source(page) -> str:
    page.goto("/")
    page.wait_for_selector("[data-testid=home-data][data-source=cdn], [data-testid=home-data][data-source=api]")
    return page.get_attribute("[data-testid=home-data]", "data-source")


def test_home_page_renders_from_the_cdn_file_and_from_the_api_without_it(page, cdn_root):
    make_product(name="Lantern", rank=500)
    services.publish(targets=["home.json"])
    assert (cdn_root / "home.json").exists()

    assert home_source(page) == "cdn"
    assert "Lantern" in page.inner_text("[data-testid=hot-products]")

    (cdn_root / "home.json").unlink()
    assert home_source(page) == "api"
    assert "Lantern" in page.inner_text("[data-testid=hot-products]")


def test_home_page_works_with_the_cdn_folder_deleted(page, cdn_root):
    make_product(name="Teapot", rank=500)
    cdn_root.rmdir()

    assert home_source(page) == "api"
    assert "Teapot" in page.inner_text("[data-testid=hot-products]")


def test_surge_cdn_load_prefers_the_cdn_and_falls_back_on_miss_or_stale(page, cdn_root):
    make_product(name="Kite", rank=500)
    services.publish(targets=["home.json"])
    version = json.loads((cdn_root / "home.json").read_text())["version"]
    page.goto("/")
    page.add_script_tag(url="/static/staticgen/cdn.js")

    def load(cdn, opts):
        return page.evaluate(
            "([cdn, opts]) => SurgeCDN.load(cdn, '/api/home/', opts)"
            ".then(r => ({source: r.source, reason: r.reason, n: r.data.products.length}))",
            [cdn, opts],
        )

    hit = load("/cdn/home.json", {"minVersion": version})
    assert hit["source"] == "cdn" and hit["n"] == 1
    stale = load("/cdn/home.json", {"minVersion": version + 1})
    assert stale["source"] == "api" and "older version" in stale["reason"]
    too_old = load("/cdn/home.json", {"maxAgeSeconds": 0.001})
    assert too_old["source"] == "api"
    miss = load("/cdn/nothing.json", {})
    assert miss["source"] == "api" and "cdn miss" in miss["reason"] and miss["n"] == 1


def test_surge_cdn_load_reads_a_product_from_the_cdn_and_the_api_without_it(page, cdn_root):
    product = make_product(name="Compass")
    services.publish(targets=[f"products/{product.pk}.json"])
    page.goto("/")
    page.add_script_tag(url="/static/staticgen/cdn.js")
    updated = json.loads((cdn_root / f"products/{product.pk}.json").read_text())["updated_at"]

    def load():
        return page.evaluate(
            "([id, updated]) => SurgeCDN.load('/cdn/products/' + id + '.json', '/api/products/' + id + '/',"
            " {minGeneratedAt: updated}).then(r => ({source: r.source, name: r.data.name}))",
            [product.pk, updated],
        )

    assert load() == {"source": "cdn", "name": "Compass"}
    (cdn_root / f"products/{product.pk}.json").unlink()
    assert load() == {"source": "api", "name": "Compass"}


def test_product_page_takes_its_data_from_the_cdn_and_from_the_api_without_it(page, cdn_root):
    product = make_product(name="Compass", price_cents=1234)
    services.publish(targets=[f"products/{product.pk}.json"])

    def source():
        page.goto(f"/products/{product.pk}/")
        page.wait_for_selector("[data-testid=product][data-source]")
        return page.get_attribute("[data-testid=product]", "data-source")

    assert source() == "cdn"
    assert page.inner_text("[data-testid=price]") == "¥12.34"
    (cdn_root / f"products/{product.pk}.json").unlink()
    assert source() == "api"
    assert page.inner_text("[data-testid=price]") == "¥12.34"
