"""The OpenAPI description of the plain-function JSON views (the hot paths), for `/api/schema/`.

The hot paths stay plain Django functions (no DRF dispatch on a storm). drf-spectacular only
enumerates DRF views, so a preprocessing hook (`add_function_views`) walks the URL conf and, for
each function view listed in FUNCTION_VIEWS, adds an endpoint whose callback is a stub APIView
that is never routed: its `extend_schema` decorators are the description, checked against the
views by project/tests/test_api_schema.py and the schemathesis run. A postprocessing hook
(`add_common_responses`) adds the answers every endpoint can give before any view runs (a bad
bearer token, a CSRF failure, the token check without its stores).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.schemas.generators import EndpointEnumerator
from rest_framework.views import APIView

from orders.selectors import MAX_PAGE as ORDER_MAX_PAGE
from orders.serializers import FlashBuyIn, OrderCreateIn, OrderOut, ProductOut
from project.openapi import BAD_REQUEST, DESCRIPTIONS, error, error_shape, errors, page_parameter
from usercenter.selectors import LEDGER_MAX_PAGE
from usercenter.services import AVATAR_PATTERN

PAGE_PARAM = page_parameter(ORDER_MAX_PAGE)


# ---------------------------------------------------------------- response shapes of the function views


class SigninOut(serializers.Serializer):
    already = serializers.BooleanField()
    date = serializers.DateField()
    streak = serializers.IntegerField()
    points_awarded = serializers.IntegerField()
    total_points = serializers.IntegerField(required=False, allow_null=True)


class CalendarOut(serializers.Serializer):
    month = serializers.RegexField(r"^\d{4}-\d{2}$")
    today = serializers.DateField()
    days_in_month = serializers.IntegerField()
    first_weekday = serializers.IntegerField(help_text="Monday = 0")
    days = serializers.ListField(child=serializers.IntegerField())
    streak = serializers.IntegerField()
    signed_today = serializers.BooleanField()
    total_days = serializers.IntegerField()
    next_points = serializers.IntegerField()


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    nickname = serializers.CharField(allow_blank=True)
    display_name = serializers.CharField(allow_blank=True)
    avatar = serializers.CharField(allow_blank=True)
    bio = serializers.CharField(allow_blank=True)
    balance_cents = serializers.IntegerField()
    points = serializers.IntegerField()
    streak = serializers.IntegerField()
    signed_today = serializers.BooleanField()
    orders_count = serializers.IntegerField()
    grabs_count = serializers.IntegerField()
    grabs_total_cents = serializers.IntegerField()


# What usercenter.services.profile_update accepts: at least one known field, text or null (null
# clears it), no control characters (bio may hold newlines and tabs), an http(s) avatar.
PROFILE_PATCH_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "nickname": {"type": "string", "nullable": True, "maxLength": 40, "pattern": r"^[^\x00-\x08\x0a-\x1f]*$"},
        "avatar": {"type": "string", "nullable": True, "maxLength": 300, "pattern": AVATAR_PATTERN},
        "bio": {"type": "string", "nullable": True, "maxLength": 500, "pattern": r"^[^\x00-\x08\x0b-\x1f]*$"},
    },
}


class LedgerEntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    amount_cents = serializers.IntegerField()
    points = serializers.IntegerField()
    reference = serializers.CharField(allow_blank=True)
    memo = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class LedgerPageOut(serializers.Serializer):
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = LedgerEntryOut(many=True)


class AnnouncementOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField(allow_blank=True)
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)


class HomeOut(serializers.Serializer):
    version = serializers.IntegerField(help_text="Milliseconds since the epoch of the build; only grows.")
    generated_at = serializers.DateTimeField()
    products = ProductOut(many=True)
    announcements = AnnouncementOut(many=True)


class WhoamiOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class OrderPageOut(serializers.Serializer):
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = OrderOut(many=True)


class FlashTokenOut(serializers.Serializer):
    token = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending"])


class FlashStatusOut(serializers.Serializer):
    token = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "created", "rejected"])
    order_id = serializers.IntegerField(required=False, help_text="Only when status is created.")


class GrabOkOut(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    packet_id = serializers.IntegerField()


# ---------------------------------------------------------------- stubs (schema only, never routed)


class _Stub(APIView):
    """Only read by the schema generator; the real view is the function named in FUNCTION_VIEWS."""


class SigninStub(_Stub):
    @extend_schema(
        operation_id="signin",
        summary="Daily sign-in",
        description="Signs the user in for today (the site's day). Repeats answer `already: true`.",
        request=None,
        responses={200: SigninOut},
        tags=["signin"],
    )
    def post(self, request): ...


class CalendarStub(_Stub):
    @extend_schema(
        operation_id="signin_calendar",
        summary="The month's sign-in calendar",
        parameters=[
            OpenApiParameter(
                "month",
                str,
                OpenApiParameter.QUERY,
                required=False,
                pattern=r"^2[0-9]{3}-(0[1-9]|1[0-2])$",
                description="YYYY-MM, years 2000-2999 (default: this month).",
            )
        ],
        responses={
            200: CalendarOut,
            400: error(400, serializer=error_shape("MonthError", field=serializers.CharField())),
        },
        tags=["signin"],
    )
    def get(self, request): ...


class MeStub(_Stub):
    parser_classes = [JSONParser]  # the PATCH reads JSON only

    @extend_schema(
        operation_id="me_retrieve",
        summary="The user center",
        responses={200: MeOut, **errors(404)},
        tags=["me"],
    )
    def get(self, request): ...

    @extend_schema(
        operation_id="me_partial_update",
        summary="Edit the profile",
        request={"application/json": PROFILE_PATCH_SCHEMA},
        responses={200: MeOut, 400: BAD_REQUEST},
        tags=["me"],
    )
    def patch(self, request): ...


class LedgerStub(_Stub):
    @extend_schema(
        operation_id="me_ledger",
        summary="The wallet and points ledger, newest first",
        parameters=[page_parameter(LEDGER_MAX_PAGE)],
        responses={200: LedgerPageOut, **errors(400, 404)},
        tags=["me"],
    )
    def get(self, request): ...


class HomeStub(_Stub):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="home",
        summary="The home document (also on the CDN as home.json)",
        responses={200: HomeOut},
        tags=["home"],
    )
    def get(self, request): ...


class WhoamiStub(_Stub):
    @extend_schema(
        operation_id="auth_whoami", summary="Who this session or token is", responses={200: WhoamiOut}, tags=["auth"]
    )
    def get(self, request): ...


class OrdersStub(_Stub):
    parser_classes = [JSONParser]  # (a form body works too; clients are told to send JSON)

    @extend_schema(
        operation_id="orders_list",
        summary="My orders, 40 per page, newest first",
        parameters=[PAGE_PARAM],
        responses={200: OrderPageOut, **errors(400, 404)},
        tags=["orders"],
    )
    def get(self, request): ...

    @extend_schema(
        operation_id="orders_create",
        summary="Buy a (non-flash) product",
        description="The same `idempotency_key` again answers 200 with the first order.",
        request=OrderCreateIn,
        responses={
            201: OrderOut,
            200: OpenApiResponse(OrderOut, description="This idempotency key's earlier order."),
            400: BAD_REQUEST,
            404: error(404, "No such product."),
            409: error(
                409,
                "Out of stock (with the stock left).",
                error_shape("OutOfStockError", stock=serializers.IntegerField()),
            ),
        },
        tags=["orders"],
    )
    def post(self, request): ...


class FlashBuyStub(_Stub):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="flash_buy",
        summary="Flash-sale buy (queued)",
        description="202 with a token to poll at /api/flash/orders/{token}/; the order is written by a worker.",
        request=FlashBuyIn,
        responses={
            202: FlashTokenOut,
            400: BAD_REQUEST,
            404: error(404, "No flash sale for this product."),
            409: error(
                409, "Per-user limit reached.", error_shape("FlashLimitError", bought=serializers.IntegerField())
            ),
            410: error(
                410,
                "Sold out or ended.",
                error_shape("FlashGoneError", left=serializers.IntegerField(required=False)),
            ),
            425: error(425, serializer=error_shape("FlashTooEarlyError", starts_at=serializers.DateTimeField())),
            **errors(503),
        },
        tags=["orders"],
    )
    def post(self, request, product_id: int): ...


class FlashStatusStub(_Stub):
    @extend_schema(
        operation_id="flash_order_status",
        summary="A flash order token's status (its owner only)",
        responses={200: FlashStatusOut, **errors(404)},
        tags=["orders"],
    )
    def get(self, request, token: str): ...


class GrabStub(_Stub):
    @extend_schema(
        operation_id="redpacket_grab",
        summary="Grab a red packet",
        description="The Grab row and the wallet credit are written by the queue drain.",
        request=None,
        responses={
            200: GrabOkOut,
            404: error(404, "No such red packet."),
            409: error(
                409,
                "Already grabbed (with the amount).",
                error_shape(
                    "GrabAlreadyError", amount_cents=serializers.IntegerField(), packet_id=serializers.IntegerField()
                ),
            ),
            410: error(
                410,
                serializer=error_shape(
                    "GrabGoneError",
                    reason=serializers.ChoiceField(choices=["sold_out", "ended"]),
                    packet_id=serializers.IntegerField(),
                ),
            ),
            425: error(
                425,
                serializer=error_shape(
                    "GrabTooEarlyError", starts_at=serializers.DateTimeField(), packet_id=serializers.IntegerField()
                ),
            ),
            429: error(429, serializer=error_shape("ThrottledError", retry_after_ms=serializers.IntegerField())),
            **errors(503),
        },
        tags=["redpackets"],
    )
    def post(self, request, campaign_id: int): ...


# "<module>.<function>" of each plain view -> its stub (functools.wraps keeps both names).
FUNCTION_VIEWS: dict[str, type[_Stub]] = {
    "signin.api.signin": SigninStub,
    "signin.api.calendar": CalendarStub,
    "usercenter.api.me": MeStub,
    "usercenter.api.me_ledger": LedgerStub,
    "usercenter.api.home": HomeStub,
    "usercenter.api.whoami": WhoamiStub,
    "orders.api.orders": OrdersStub,
    "orders.api.flash_buy": FlashBuyStub,
    "orders.api.flash_order_status": FlashStatusStub,
    "redpackets.api.grab": GrabStub,
}
# Not part of the client contract: the schema's own views.
EXCLUDED_PREFIXES = ("/api/schema/", "/api/docs/")


def _function_view_endpoints(patterns, prefix: str = "") -> list[tuple]:
    found = []
    for pattern in patterns:
        path_regex = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _function_view_endpoints(pattern.url_patterns, path_regex)
        elif isinstance(pattern, URLPattern):
            callback = pattern.callback
            stub = FUNCTION_VIEWS.get(f"{callback.__module__}.{callback.__qualname__}")
            if stub is not None:
                path = EndpointEnumerator().get_path_from_regex(path_regex)
                view = stub.as_view()
                for method in stub().allowed_methods:
                    if method not in ("OPTIONS", "HEAD"):
                        found.append((path, path_regex, method, view))
    return found


def add_function_views(endpoints):
    """PREPROCESSING_HOOKS: the DRF endpoints, plus the function views described above."""
    endpoints = [*endpoints, *_function_view_endpoints(get_resolver().url_patterns)]
    return [e for e in endpoints if not e[0].startswith(EXCLUDED_PREFIXES)]


# drf-spectacular marks a PATCH body optional; this one is refused (400) without a field to change.
BODY_REQUIRED = {"me_partial_update"}


def add_common_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS: answers any endpoint gives before its view runs. The bearer-token
    middleware answers 401 for a bad token and 503 when neither Redis nor the primary can vouch
    for a token; CSRF (cookie-session writes) and a disabled account answer 403."""
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            if operation.get("operationId") in BODY_REQUIRED:
                operation["requestBody"]["required"] = True
            responses = operation.setdefault("responses", {})
            common = {"401": 401, "503": 503}
            # Cookie sessions are CSRF-checked on writes (the function views always, DRF's when
            # the view authenticates by session); a token whose account was disabled meanwhile is
            # refused when the view loads the user.
            if any("cookieAuth" in s for s in operation.get("security", [])):
                common["403"] = 403
            for key, code in common.items():
                responses.setdefault(
                    key,
                    {"description": DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}},
                )
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer <token>` from /api/auth/login/ or /api/auth/register/."""

    target_class = "usercenter.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from /api/auth/login/."}
