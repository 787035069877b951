import io
import json

import pytest

from orders.tests.factories import make_product
from staticgen import demo
from staticgen.models import PublishRun
from usercenter import selectors as usercenter_selectors

pytestmark = pytest.mark.django_db


def test_demo_seed_publishes_everything_with_a_fresh_home_document(cdn_root):
    usercenter_selectors.home_document()  # cached before any product existed, as in the real seed
    product = make_product(name="Seeded", rank=100)
    out = io.StringIO()

    demo.seed(stdout=out)

    assert "written 4, unchanged 0, deleted 0, failed 0" in out.getvalue()
    assert json.loads((cdn_root / "home.json").read_text())["products"][0]["id"] == product.pk
    assert (cdn_root / f"products/{product.pk}.html").exists()
    assert PublishRun.objects.get().trigger == PublishRun.Trigger.DEMO
