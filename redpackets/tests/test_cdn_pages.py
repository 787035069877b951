import pytest

from redpackets import services
from redpackets.tests.factories import make_campaign
from staticgen.services import pending_targets

pytestmark = pytest.mark.django_db(transaction=True)


def test_opening_and_closing_a_campaign_republish_its_cdn_page():
    campaign = make_campaign(open=False, starts_in=600)
    from project.redis import get_redis

    get_redis().delete("staticgen:pending")  # what creating it scheduled
    services.campaign_open(campaign_id=campaign.pk)
    assert f"redpackets/{campaign.pk}.html" in pending_targets()
    get_redis().delete("staticgen:pending")
    services.campaign_close(campaign_id=campaign.pk)
    assert f"redpackets/{campaign.pk}.html" in pending_targets()
