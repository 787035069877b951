import pytest

from redpackets import demo
from redpackets.models import Campaign

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent(capsys):
    class Out:
        def write(self, text):
            print(text)

    demo.seed(stdout=Out())
    demo.seed(stdout=Out())
    assert Campaign.objects.count() == 2
    live = Campaign.objects.get(title=demo.OPEN_TITLE)
    assert live.state() == "live" and live.count == 500 and live.total_cents == 10_000_00
    assert Campaign.objects.get(title=demo.UPCOMING_TITLE).state() == "upcoming"
