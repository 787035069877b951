import pytest

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


def test_readyz_is_503_json_when_nothing_answers(client, devstack, settings):
    devstack.stop("redis")
    # Without Redis the node still serves from the primary: degraded, not out.
    res = client.get("/readyz")
    assert res.status_code == 200 and res.json()["status"] == "degraded"
    assert res.json()["redis"]["ok"] is False


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
