"""The real outputs the apps register: each published file equals the live view's body."""

import json

import pytest

from orders.tests.factories import make_product
from staticgen import registry, services

pytestmark = pytest.mark.django_db


def test_every_app_output_is_registered():
    names = {o.name for o in registry.outputs()}
    assert {"home.json", "products/{id}.json", "products/{id}.html", "sitemap.xml"} <= names


def test_product_json_is_byte_for_byte_the_api_body(client, cdn_root):
    product = make_product(name="Kettle “Deluxe” ☕", description="line\u2028break")

    services.publish(targets=[f"products/{product.pk}.json"])

    live = client.get(f"/api/products/{product.pk}/")
    assert live.status_code == 200
    assert (cdn_root / f"products/{product.pk}.json").read_bytes() == live.content


def test_home_json_is_byte_for_byte_the_api_body(client, cdn_root):
    make_product(name="Hot one", rank=999)

    services.publish(targets=["home.json"])

    live = client.get("/api/home/")
    published = (cdn_root / "home.json").read_bytes()
    assert published == live.content
    assert json.loads(published)["products"][0]["name"] == "Hot one"


def test_product_page_is_the_live_page_without_a_csrf_token(client, cdn_root):
    product = make_product(name="Desk Lamp")

    services.publish(targets=[f"products/{product.pk}.html"])

    html = (cdn_root / f"products/{product.pk}.html").read_text()
    assert 'data-testid="product-name">Desk Lamp<' in html
    assert '<meta name="csrf-token" content="">' in html
    assert "Log in to buy" in html
    # the second render gives the same bytes: nothing per-request leaks into the file
    assert services.publish(targets=[f"products/{product.pk}.html"]).unchanged == 1


def test_deleted_product_files_are_removed(cdn_root):
    keep, gone = make_product(), make_product()
    gone_id = gone.pk
    services.publish(targets=["products/*", "sitemap.xml"])
    assert (cdn_root / f"products/{gone.pk}.json").exists()
    assert f"/products/{gone.pk}/" in (cdn_root / "sitemap.xml").read_text()

    gone.delete()
    result = services.publish(targets=["products/*", "sitemap.xml"])

    assert sorted(result.deleted) == [f"products/{gone_id}.html", f"products/{gone_id}.json"]
    assert not (cdn_root / f"products/{gone_id}.json").exists()
    assert not (cdn_root / f"products/{gone_id}.html").exists()
    assert (cdn_root / f"products/{keep.pk}.json").exists()
    assert f"/products/{gone_id}/" not in (cdn_root / "sitemap.xml").read_text()


def test_deactivated_product_is_removed_by_a_targeted_republish(cdn_root):
    product = make_product()
    services.publish(targets=[f"products/{product.pk}.json"])
    product.is_active = False
    product.save(update_fields=["is_active"])

    result = services.publish(targets=[f"products/{product.pk}.json"])

    assert result.deleted == [f"products/{product.pk}.json"]


def test_sitemap_lists_home_and_product_pages(cdn_root, settings):
    settings.STATICGEN_SITE_URL = "https://shop.example"
    product = make_product()

    services.publish(targets=["sitemap.xml"])

    xml = (cdn_root / "sitemap.xml").read_text()
    assert xml.startswith('<?xml version="1.0"')
    assert "<loc>https://shop.example/</loc>" in xml
    assert f"<loc>https://shop.example/products/{product.pk}/</loc>" in xml


def test_full_publish_then_verify_passes(cdn_root):
    make_product()
    make_product()

    result = services.publish()
    check = services.verify()

    assert result.ok and len(result.written) == 6  # home, sitemap, 2 x (json + html)
    assert check.passed and len(check.ok) == 6


def test_only_upcoming_open_campaigns_get_a_page(cdn_root):
    from datetime import timedelta

    from django.utils import timezone

    from redpackets.models import Campaign
    from redpackets.publish import render_campaign_html, upcoming_campaign_ids

    now = timezone.now()

    def campaign(status, starts_in):
        return Campaign.objects.create(
            title="rp",
            total_cents=100,
            count=2,
            shares=[50, 50],
            status=status,
            starts_at=now + timedelta(seconds=starts_in),
            ends_at=now + timedelta(seconds=starts_in + 600),
        )

    upcoming = campaign(Campaign.Status.OPEN, 600)
    live = campaign(Campaign.Status.OPEN, -60)
    campaign(Campaign.Status.DRAFT, 600)

    assert upcoming_campaign_ids() == [upcoming.pk]
    assert render_campaign_html(live.pk) is None
    assert registry.get("redpackets/{id}.html").page_for(upcoming.pk) == f"/redpackets/{upcoming.pk}/"
