"""`/api/schema/` documents every JSON endpoint under /api/, and /api/docs/ shows it."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.schemas.generators import EndpointEnumerator

from project.schema import EXCLUDED_PREFIXES

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _api_patterns(patterns, prefix=""):
    for pattern in patterns:
        regex = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_patterns(pattern.url_patterns, regex)
        elif isinstance(pattern, URLPattern):
            path = EndpointEnumerator().get_path_from_regex(regex)
            if path.startswith("/api/") and not path.startswith(EXCLUDED_PREFIXES):
                yield path, pattern.callback


def _methods(callback) -> set[str]:
    if hasattr(callback, "cls"):  # a DRF view
        return {m.lower() for m in callback.cls().allowed_methods} & HTTP_METHODS
    return {m.lower() for m in callback.allowed_methods}  # project.api.endpoint sets it


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_api_url_pattern_and_method_is_in_the_schema(schema):
    patterns = list(_api_patterns(get_resolver().url_patterns))
    assert len(patterns) >= 18  # sanity: the walk found the apps' URLs
    missing = []
    for path, callback in patterns:
        documented = set(schema["paths"].get(path, {})) & HTTP_METHODS
        if documented != _methods(callback):
            missing.append(f"{path}: documented {sorted(documented)}, serves {sorted(_methods(callback))}")
    assert not missing, missing


def test_the_schema_documents_nothing_that_is_not_served(schema):
    served = {path for path, _ in _api_patterns(get_resolver().url_patterns)}
    assert set(schema["paths"]) <= served


def test_the_hot_paths_document_their_error_answers(schema):
    paths = schema["paths"]
    grab = paths["/api/redpackets/{campaign_id}/grab/"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "410", "425", "429", "503"} <= set(grab)
    flash = paths["/api/flash/{product_id}/buy/"]["post"]["responses"]
    assert {"202", "400", "401", "403", "404", "409", "410", "425", "503"} <= set(flash)
    assert {"200", "400", "401", "404"} <= set(paths["/api/orders/"]["get"]["responses"])
    assert {"200", "400", "401"} <= set(paths["/api/signin/calendar/"]["get"]["responses"])
    assert paths["/api/redpackets/{campaign_id}/grab/"]["post"]["parameters"][0]["schema"]["type"] == "integer"


def test_every_operation_has_an_id_and_every_error_a_json_body(schema):
    ids = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            for code, response in op["responses"].items():
                if int(code) >= 400:
                    assert "application/json" in response.get("content", {}), (path, method, code)
    assert len(ids) == len(set(ids))


def test_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert b"/api/schema/" in script.content
