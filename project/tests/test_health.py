import pytest
import requests

pytestmark = pytest.mark.django_db


def test_healthz_is_alive(client):
    res = client.get("/healthz")
    assert res.status_code == 200 and res.json() == {"status": "ok"}


def test_readyz_reports_every_store(client):
    res = client.get("/readyz")
    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "ready"
    assert body["primary"]["ok"] and body["redis"]["ok"] and body["replica"]["ok"]
    assert "lag_seconds" in body["replica"]
    assert isinstance(body["queues"], dict)


def test_readyz_stays_in_the_pool_degraded_without_redis(client, devstack, settings):
    devstack.stop("redis")
    # Without Redis the node still serves from the primary: degraded, not out.
    res = client.get("/readyz")
    assert res.status_code == 200 and res.json()["status"] == "degraded"
    assert res.json()["redis"]["ok"] is False


@pytest.mark.disruptive
@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_json_when_nothing_answers(live_gunicorn, devstack):
    """A real gunicorn whose primary, replica and Redis are all stopped: nginx's passive checks
    and the blackbox probe (SurgeNotReady) must see it out; back to ready once they return."""
    from django.db import connections

    from project.testing import wait_until

    url = f"{live_gunicorn.url}/readyz"
    assert requests.get(url, timeout=20).json()["status"] == "ready"
    connections.close_all()
    for name in ("redis", "replica", "primary"):
        devstack.stop(name)
    try:
        res = requests.get(url, timeout=30)
        assert res.status_code == 503, res.text
        assert res.headers["Content-Type"].startswith("application/json")
        body = res.json()
        assert body["status"] == "unavailable"
        assert not body["primary"]["ok"] and not body["replica"]["ok"] and not body["redis"]["ok"]

        # The primary alone is enough to serve again (reads and writes, no cache): degraded.
        devstack.start("primary")
        res = requests.get(url, timeout=30)
        assert res.status_code == 200 and res.json()["status"] == "degraded", res.text
    finally:
        for name in ("primary", "replica", "redis"):
            if name in devstack.stopped:
                devstack.start(name)
        connections.close_all()
    wait_until(
        lambda: requests.get(url, timeout=20).json()["status"] == "ready", 30, "/readyz is ready again", every=0.5
    )


def test_metrics_are_prometheus_text(client):
    client.get("/healthz")
    res = client.get("/metrics")
    assert res.status_code == 200
    text = res.content.decode()
    assert "surge_http_requests_total" in text
    assert 'view="healthz"' in text


def test_404_page_has_the_site_look(client):
    res = client.get("/no-such-page/")
    assert res.status_code == 404
    assert b"We could not find that page" in res.content and b"nav" in res.content


def test_404_on_api_is_json(client):
    res = client.get("/api/no-such-endpoint/")
    assert res.status_code == 404
    assert res.json() == {"detail": "Not found."}
