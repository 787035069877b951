"""Redis down: a publish still runs (without the lock; home.json comes from the API's DB
fallback), and scheduling a republish logs instead of failing the caller."""

import pytest

from orders.tests.factories import make_product
from staticgen import services
from staticgen.models import PublishRun

pytestmark = [pytest.mark.disruptive, pytest.mark.django_db]


def test_publish_and_schedule_survive_a_redis_outage(devstack, cdn_root, django_capture_on_commit_callbacks, caplog):
    product = make_product(name="Offline Lamp", rank=900)
    devstack.stop("redis")

    result = services.publish(targets=["home.json", f"products/{product.pk}.*"])
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_schedule([f"products/{product.pk}.json"])

    assert result.ok and len(result.written) == 3
    assert "Offline Lamp" in (cdn_root / "home.json").read_text()
    assert PublishRun.objects.get().status == PublishRun.Status.OK
    assert "without the lock" in caplog.text
    assert "not scheduled" in caplog.text
