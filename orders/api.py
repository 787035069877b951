"""Orders JSON API. The hot paths (order list, flash buy, token status) are plain function views
returning project.api.json_response; the product endpoints are DRF views."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.serializers import FlashBuyIn, OrderCreateIn, ProductOut, ProductPageOut
from project.api import endpoint, error, json_body, json_response, page_param, raw_json_response, redis_down
from project.openapi import errors, page_parameter
from project.redis import RedisUnavailable


def _order_error(exc: services.OrderError):
    response = error(exc.status, exc.detail, **exc.extra)
    if exc.status == 503:
        response["Retry-After"] = "1"
    return response


def parse_page(raw: str | None) -> int | None:
    """`?page=` of the HTML pages (empty means 1); None past selectors.MAX_PAGE."""
    if raw is None or raw == "":
        return 1
    try:
        page = int(raw)
    except ValueError:
        return None
    return page if 1 <= page <= selectors.MAX_PAGE else None


_PAGE_ERROR = f"page must be a whole number from 1 to {selectors.MAX_PAGE}."


@endpoint("GET", "POST")
def orders(request):
    """GET: the user's orders, 40 per page, newest first (page 1 cached; zero SQL on a hit).
    POST {product_id, quantity, idempotency_key}: a normal purchase."""
    if request.method == "GET":
        page = page_param(request, max_page=selectors.MAX_PAGE)
        if page is None:
            return error(400, _PAGE_ERROR)
        try:
            return raw_json_response(selectors.order_page_json(user_id=request.user.pk, page=page))
        except selectors.PageNotFound as exc:
            return error(404, str(exc))
    return _order_create(request)


def _order_create(request):
    data = json_body(request)
    if data is None:
        return error(400, "The body must be a JSON object.")
    form = OrderCreateIn(data=data)
    if not form.is_valid():
        return json_response(form.errors, status=400)
    try:
        order, created = services.order_create(user_id=request.user.pk, **form.validated_data)
    except services.OrderError as exc:
        return _order_error(exc)
    return json_response(order, status=201 if created else 200)


_QUANTITY = FlashBuyIn().fields["quantity"]
_QUANTITY_MIN, _QUANTITY_MAX = _QUANTITY.min_value, _QUANTITY.max_value


@endpoint("POST")
def flash_buy(request, product_id: int):
    """`POST /api/flash/<product_id>/buy/` {quantity}: 202 {token}; the order is written by the queue."""
    quantity = 1
    if request.body:
        data = json_body(request)
        if data is None:
            return error(400, "The body must be a JSON object.")
        quantity = data.get("quantity", 1)
        # A plain whole number in range skips DRF's serializer, the dearest step of the request;
        # anything else goes through it, which converts it or says what is wrong.
        if type(quantity) is not int or not _QUANTITY_MIN <= quantity <= _QUANTITY_MAX:
            form = FlashBuyIn(data=data)
            if not form.is_valid():
                return json_response(form.errors, status=400)
            quantity = form.validated_data["quantity"]
    try:
        token = services.flash_buy(user_id=request.user.pk, product_id=product_id, quantity=quantity)
    except services.OrderError as exc:
        return _order_error(exc)
    except RedisUnavailable:
        return redis_down("Flash sales are")
    return json_response({"token": token, "status": "pending"}, status=202)


@endpoint("GET")
def flash_order_status(request, token: str):
    """`GET /api/flash/orders/<token>/`: pending | created {order_id} | rejected (owner only)."""
    status = selectors.flash_token_status(token=token, user_id=request.user.pk)
    if status is None:
        return error(404, "Unknown order token.")
    return json_response(status)


class ProductListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="products_list",
        parameters=[page_parameter(selectors.MAX_PAGE)],
        responses={200: ProductPageOut, **errors(400, 404)},
    )
    def get(self, request):
        page = page_param(request, max_page=selectors.MAX_PAGE)
        if page is None:
            return Response({"detail": _PAGE_ERROR}, status=400)
        try:
            return Response(selectors.product_page(page=page))
        except selectors.PageNotFound as exc:
            return Response({"detail": str(exc)}, status=404)


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="products_retrieve", responses={200: ProductOut, **errors(404)})
    def get(self, request, product_id: int):
        product = selectors.product_detail(product_id=product_id)
        if product is None:
            return Response({"detail": "No such product."}, status=404)
        return Response(product)
