import shutil

import pytest
from django.conf import settings

from staticgen import registry


@pytest.fixture(autouse=True)
def cdn_root():
    """Every test starts with an empty local CDN folder (the test settings' CDN_ROOT)."""
    root = settings.CDN_ROOT_FOR_TESTS
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


class FakeCatalog:
    """Test-only outputs under `test/`, driven by a dict, so the publisher is tested without
    depending on any app's data: `test/items/{id}.json`, `test/page.html`, `test/feed.xml`."""

    def __init__(self):
        self.items: dict[int, str] = {1: "one", 2: "two", 3: "three"}
        self.fail: set[int] = set()
        self.renders = 0

    def render_item(self, item_id: int):
        self.renders += 1
        if item_id in self.fail:
            raise RuntimeError(f"boom {item_id}")
        if item_id not in self.items:
            return None
        return f'{{"id":{item_id},"name":"{self.items[item_id]}"}}'

    def register(self):
        registry.register(
            "test/items/{id}.json",
            keys=lambda: sorted(self.items),
            key_type=int,
            render=self.render_item,
            app="tests",
        )
        registry.register("test/page.html", render=lambda: "<!doctype html><p>hello</p>", app="tests")
        registry.register(
            "test/feed.xml",
            render=lambda: "<feed/>",
            cache_control="public, max-age=7",
            app="tests",
        )

    def unregister(self):
        for name in ("test/items/{id}.json", "test/page.html", "test/feed.xml"):
            registry.unregister(name)


@pytest.fixture
def catalog():
    c = FakeCatalog()
    c.register()
    yield c
    c.unregister()
