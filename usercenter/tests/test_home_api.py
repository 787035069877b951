import datetime as dt
import threading

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from project import counters
from project.testing import CaptureAll, in_threads
from usercenter import selectors
from usercenter.models import Announcement

pytestmark = pytest.mark.django_db


def test_document_has_products_and_only_announcements_inside_their_window(client):
    now = timezone.now()
    Announcement.objects.create(title="open", sort_order=2)
    Announcement.objects.create(title="first", sort_order=1, starts_at=now - dt.timedelta(hours=1))
    Announcement.objects.create(title="later", starts_at=now + dt.timedelta(hours=1))
    Announcement.objects.create(title="over", ends_at=now - dt.timedelta(minutes=1))
    Announcement.objects.create(title="off", is_active=False)
    body = client.get("/api/home/").json()
    assert set(body) == {"version", "generated_at", "products", "announcements"}
    assert isinstance(body["version"], int) and body["generated_at"]
    assert [a["title"] for a in body["announcements"]] == ["first", "open"]
    assert isinstance(body["products"], list)


def test_home_api_on_a_cache_hit_runs_zero_sql_from_l1_and_from_l2(client):
    assert client.get("/api/home/").status_code == 200
    with CaptureAll() as q:
        assert client.get("/api/home/").status_code == 200  # L1
    assert q.count == 0
    selectors.home_cache.clear_local()
    with CaptureAll() as q:
        assert client.get("/api/home/").status_code == 200  # L2
    assert q.count == 0


def test_an_l1_hit_makes_zero_redis_calls(client):
    client.get("/api/home/")
    _, redis0 = counters.snapshot()
    with CaptureAll() as q:
        res = client.get("/api/home/")
    _, redis1 = counters.snapshot()
    assert res.status_code == 200 and q.count == 0
    assert redis1 - redis0 == 0


def test_an_l2_hit_makes_one_redis_call():
    selectors.home_document()
    selectors.home_cache.clear_local()
    _, redis0 = counters.snapshot()
    selectors.home_document()
    assert counters.snapshot()[1] - redis0 == 1


def test_api_body_is_the_cached_document(client):
    body = client.get("/api/home/").json()
    assert body == selectors.home_document()


@pytest.mark.django_db(transaction=True)
def test_200_threads_on_a_cold_document_cause_one_rebuild(monkeypatch):
    Announcement.objects.create(title="stampede")
    calls = []
    lock = threading.Lock()
    real_build = selectors.home_document_build

    def counting_build():
        with lock:
            calls.append(1)
        import time

        time.sleep(0.2)  # a slow database makes the race window wide
        return real_build()

    monkeypatch.setattr(selectors, "home_document_build", counting_build)
    rebuilds0 = selectors.home_cache.stats["rebuild"]
    n = 200
    results = [None] * n

    def worker(i):
        results[i] = selectors.home_document()

    errors = in_threads(worker, n)
    assert not errors, errors[:3]
    assert len(calls) == 1
    assert selectors.home_cache.stats["rebuild"] - rebuilds0 == 1
    assert all(r == results[0] for r in results)
    assert results[0]["announcements"][0]["title"] == "stampede"


def test_metrics_export_l1_l2_miss_and_rebuild_counts(client):
    client.get("/api/home/")  # miss + rebuild
    client.get("/api/home/")  # L1 hit
    selectors.home_cache.clear_local()
    client.get("/api/home/")  # L2 hit
    text = client.get("/metrics").content.decode()
    seen = {
        s.labels["event"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "surge_cache_events"
        for s in family.samples
        if s.name == "surge_cache_events_total" and s.labels["namespace"] == "home"
    }
    for event in ("l1_hit", "l2_hit", "miss", "rebuild"):
        assert seen.get(event, 0) >= 1, (event, seen)


def test_home_page_renders_the_document(client):
    Announcement.objects.create(title="Big sale tonight", body="Half price")
    res = client.get("/")
    html = res.content.decode()
    assert res.status_code == 200
    assert "Big sale tonight" in html and 'data-testid="home-data"' in html
    assert f'data-version="{selectors.home_document()["version"]}"' in html
    assert "usercenter/home.js" in html


def test_a_rebuild_with_unchanged_content_keeps_the_version(monkeypatch):
    from usercenter import services

    first = services.home_rebuild()
    again = services.home_rebuild()
    assert again["version"] == first["version"] and again == first
    Announcement.objects.create(title="new")
    changed = services.home_rebuild()
    assert changed["version"] > first["version"]
