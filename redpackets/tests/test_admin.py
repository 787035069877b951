"""Django admin: create, progress column, actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from project import testing
from redpackets import services
from redpackets.models import Campaign
from redpackets.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def test_changelist_shows_progress(admin_client, make_user):
    campaign = make_campaign(total=1000, count=4)
    services.grab(user_id=make_user("p").pk, campaign_id=campaign.pk)
    html = admin_client.get("/admin/redpackets/campaign/").content.decode()
    assert "1 / 0 / 3" in html


def test_adding_a_campaign_splits_it_as_a_draft(admin_client):
    now = timezone.now()
    res = admin_client.post(
        "/admin/redpackets/campaign/add/",
        {
            "title": "From admin",
            "total_cents": 900,
            "count": 3,
            "split_method": "double_average",
            "starts_at_0": (now + timedelta(minutes=5)).strftime("%Y-%m-%d"),
            "starts_at_1": (now + timedelta(minutes=5)).strftime("%H:%M:%S"),
            "ends_at_0": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
            "ends_at_1": (now + timedelta(days=2)).strftime("%H:%M:%S"),
            "owner": "",
        },
    )
    assert res.status_code == 302, res.content.decode()[:2000]
    campaign = Campaign.objects.get(title="From admin")
    assert campaign.status == "draft" and sum(campaign.shares) == 900 and len(campaign.shares) == 3


def test_actions_open_reconcile_close(admin_client):
    campaign = make_campaign(open=False)
    for action in ("open_campaigns", "reconcile_campaigns", "close_campaigns"):
        res = admin_client.post(
            "/admin/redpackets/campaign/", {"action": action, "_selected_action": [campaign.pk]}, follow=True
        )
        res = testing.admin_confirm(admin_client, res)
        assert res.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == "closed"


def test_grab_changelist_and_change_page_load(admin_client):
    make_campaign()
    assert admin_client.get("/admin/redpackets/grab/").status_code == 200
    campaign = make_campaign()
    assert admin_client.get(f"/admin/redpackets/campaign/{campaign.pk}/change/").status_code == 200
