"""No input answers 500: hypothesis throws hostile path parameters, query strings, headers and
bodies at every endpoint (the JSON API and the pages) through Django's test client, on the real
database and Redis. Every API answer below 500 is JSON with a `detail` (or field messages)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services as order_services
from orders.tests.factories import make_flash_product, make_product
from redpackets.tests.factories import make_campaign

EXAMPLES = 20

# (methods it serves, path with {id} / {token} slots).
API = [
    ("POST", "/api/auth/register/"),
    ("POST", "/api/auth/login/"),
    ("GET", "/api/auth/whoami/"),
    ("POST", "/api/signin/"),
    ("GET", "/api/signin/calendar/"),
    ("GET PATCH", "/api/me/"),
    ("GET", "/api/me/ledger/"),
    ("GET", "/api/home/"),
    ("GET POST", "/api/orders/"),
    ("POST", "/api/flash/{id}/buy/"),
    ("GET", "/api/flash/orders/{token}/"),
    ("GET", "/api/products/"),
    ("GET", "/api/products/{id}/"),
    ("GET", "/api/redpackets/"),
    ("GET", "/api/redpackets/mine/"),
    ("GET", "/api/redpackets/{id}/"),
    ("POST", "/api/redpackets/{id}/grab/"),
]
PAGES = [
    "/",
    "/me/",
    "/login/",
    "/register/",
    "/signin/",
    "/products/",
    "/products/{id}/",
    "/orders/",
    "/orders/status/{token}/",
    "/redpackets/",
    "/redpackets/{id}/",
]

huge_ints = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
)
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda s: s + "\x00"),
    st.sampled_from(["\x00", "f1-\x00", "f1-" + "a" * 10_000, "é", "😀", "1.5", "1e400", "NaN", "-0", " 1", "1_0"]),
    st.integers(min_value=1, max_value=300).map(lambda n: "x" * (n * 40)),
)
any_param = st.one_of(huge_ints.map(str), nasty_text)
json_values = st.recursive(
    st.none() | st.booleans() | huge_ints | st.floats() | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)
known_fields = st.sampled_from(
    ["username", "password", "quantity", "product_id", "idempotency_key", "nickname", "avatar", "bio", "user_id"]
)
# Objects with the fields the endpoints read (and one named like a service argument), or not.
json_objects = st.dictionaries(known_fields, json_values, min_size=1, max_size=4) | st.dictionaries(
    nasty_text, json_values, max_size=4
)
payloads = st.one_of(
    json_objects.map(lambda d: json.dumps(d, allow_nan=True)),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b'{"quantity": 1', b"\x00", b"--xyz\r\n", '{"nickname": "\u00e9"}'.encode("latin-1")]),
)
content_types = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/xml",
        "",
    ]
)
bodies = st.tuples(payloads, content_types)
queries = st.dictionaries(st.sampled_from(["page", "month", "next", "x"]) | nasty_text, any_param, max_size=3)
methods = st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"])


@pytest.fixture
def world(db, make_user, token_for):
    user = make_user("prober")
    plain = make_product(stock=1000)
    flash = make_flash_product(stock=1000, limit=100)
    order_services.flash_open(product_id=flash.pk)
    campaign = make_campaign(count=100)
    return {"token": token_for(user), "ids": [plain.pk, flash.pk, campaign.pk]}


def _fill(template: str, world, ident, token) -> str:
    ident = ident if ident is not None else world["ids"][0]
    return template.replace("{id}", quote(str(ident), safe="")).replace("{token}", quote(token, safe=""))


def _call(client: Client, method: str, path: str, query: dict, body, content_type: str, headers: dict):
    path = path + ("?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items()) if query else "")
    return client.generic(method, path, body, content_type=content_type, **headers)


def _state() -> tuple:
    """What a refused request must leave as it was: orders, sign-ins, ledger, profiles, users."""
    from django.contrib.auth import get_user_model

    from orders.models import Order
    from signin.models import SignIn
    from usercenter.models import LedgerEntry, Profile

    return (
        Order.objects.count(),
        SignIn.objects.count(),
        LedgerEntry.objects.count(),
        get_user_model().objects.count(),
        sorted(Profile.objects.values_list("user_id", "nickname", "avatar", "bio")),
    )


def _assert_json_error(response, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.content[:300]!r}"
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), f"{where}: {response['Content-Type']}"
        body = json.loads(response.content)
        assert isinstance(body, dict) and body, where


identifiers = st.one_of(st.none(), huge_ints)
auth_headers = st.sampled_from(["token", "none", "bad", "huge"])


def _headers(kind: str, world) -> dict:
    return {
        "token": {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"},
        "none": {},
        "bad": {"HTTP_AUTHORIZATION": "Bearer 1.x:y:z\x00"},
        "huge": {"HTTP_AUTHORIZATION": "Bearer " + "9" * 5000},
    }[kind]


CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
    "",
]
# Each served (method, path) with each content type, so the generator spends its examples on
# the values, not on finding the combinations.
CASES = [(m, t, ct) for served, t in API for m in served.split() for ct in CONTENT_TYPES]


@pytest.mark.parametrize(("method", "template", "content_type"), CASES, ids=[f"{m} {t} {c}" for m, t, c in CASES])
def test_no_api_input_answers_500(world, method, template, content_type):
    client = Client(raise_request_exception=False)
    headers = _headers("token", world)

    @given(ident=identifiers, token=nasty_text, query=queries, payload=payloads)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def probe(ident, token, query, payload):
        path = _fill(template, world, ident, token)
        before = _state()
        response = _call(client, method, path, query, payload, content_type, headers)
        where = f"{method} {path} {query} {payload[:100]!r} ({content_type})"
        _assert_json_error(response, where)
        if response.status_code >= 400:
            assert _state() == before, f"{where}: a refused request changed something"

    probe()


@pytest.mark.parametrize(("served", "template"), API, ids=[t for _, t in API])
def test_no_api_method_or_credential_answers_500(world, served, template):
    client = Client(raise_request_exception=False)

    @given(method=methods, ident=identifiers, token=nasty_text, body=bodies, auth=auth_headers)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def probe(method, ident, token, body, auth):
        path = _fill(template, world, ident, token)
        payload, content_type = body
        response = _call(client, method, path, {}, payload, content_type, _headers(auth, world))
        _assert_json_error(response, f"{method} {path} {payload[:100]!r} ({content_type}, {auth})")

    probe()


@pytest.mark.parametrize("template", PAGES)
def test_no_page_input_answers_500(world, template, user_client_factory):
    client = user_client_factory()

    @given(method=st.sampled_from(["GET", "POST"]), ident=identifiers, token=nasty_text, query=queries, body=bodies)
    @settings(max_examples=EXAMPLES // 2, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def probe(method, ident, token, query, body):
        path = _fill(template, world, ident, token)
        payload, content_type = body
        response = _call(client, method, path, query, payload, content_type, {})
        where = f"{method} {path} {query} {payload[:100]!r} ({content_type})"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.content[:300]!r}"

    probe()


@pytest.fixture
def user_client_factory(make_user):
    def make():
        client = Client(raise_request_exception=False)
        client.force_login(make_user("pager"), backend="usercenter.auth.CachedUserBackend")
        return client

    return make
