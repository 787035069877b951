import urllib.request
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from usercenter.models import Announcement


def _cache_events(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as res:  # noqa: S310 - loopback
        text = res.read().decode()
    return {
        s.labels["event"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "surge_cache_events"
        for s in family.samples
        if s.name == "surge_cache_events_total" and s.labels["namespace"] == "home"
    }


def test_a_cold_start_under_concurrent_http_requests_rebuilds_once_across_processes(live_gunicorn):
    Announcement.objects.create(title="cold start")

    def hit(_):
        with urllib.request.urlopen(live_gunicorn.url + "/api/home/", timeout=10) as res:  # noqa: S310  loopback
            return res.status, res.read()

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(hit, range(300)))
    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1  # everyone got the same document
    events = _cache_events(live_gunicorn.url)
    assert events.get("rebuild") == 1, events  # two worker processes, one database rebuild
    assert events.get("l1_hit", 0) > 150, events  # most never left their process (L1 lives 3 s)
