"""Thin views over the baselines, plus the bare views: the cost of Django itself, anonymous and
with the hot paths' authentication, and the same again with one Redis round trip (the floor of
any view that must ask Redis once, as the grab and the flash buy must)."""

from __future__ import annotations

from loadtest.baselines import selectors, services
from orders import selectors as order_selectors
from orders import services as order_services
from project.api import endpoint, error, json_response, page_param, redis_down
from project.redis import RedisUnavailable, get_redis, hot_script
from usercenter import selectors as usercenter_selectors

_ECHO = "return ARGV[1]"
_echo_script = None
_PAGE_ERROR = f"page must be a whole number from 1 to {order_selectors.MAX_PAGE}."


def bare(request):
    return json_response({"ok": True})


@endpoint("GET", "POST")
def bare_auth(request):
    """The same checks the hot paths make (method, authentication), and nothing else."""
    return json_response({"ok": True, "user_id": request.user.pk})


@endpoint("GET", "POST")
def bare_redis(request):
    """`bare_auth` plus one EVALSHA of a one-line script on the hot connection (no keys, no data)."""
    global _echo_script
    try:
        if _echo_script is None:
            _echo_script = get_redis().register_script(_ECHO)
        user_id = hot_script(_echo_script, keys=[], args=[request.user.pk])
    except RedisUnavailable:
        return redis_down("The bench's Redis view is")
    return json_response({"ok": True, "user_id": int(user_id)})


@endpoint("POST")
def grab_naive(request, campaign_id: int):
    result = services.grab_naive(user_id=request.user.pk, campaign_id=campaign_id)
    return json_response(result.body, status=result.status, headers=result.headers)


@endpoint("POST")
def flash_naive(request, product_id: int):
    try:
        order = services.flash_buy_naive(user_id=request.user.pk, product_id=product_id, quantity=1)
    except order_services.OrderError as exc:
        response = error(exc.status, exc.detail, **exc.extra)
        if exc.status == 503:
            response["Retry-After"] = "1"
        return response
    return json_response(order, status=201)


@endpoint("POST")
def signin_naive(request):
    return json_response(services.signin_naive(user_id=request.user.pk))


@endpoint("GET")
def orders_nocache(request):
    """Page N always from the database: what the cache saves."""
    page = page_param(request, max_page=order_selectors.MAX_PAGE)
    if page is None:
        return error(400, _PAGE_ERROR)
    return json_response(order_selectors.order_page_db(user_id=request.user.pk, page=page))


def home_l2only(request):
    return json_response(selectors.home_document_l2only())


def home_nocache(request):
    return json_response(usercenter_selectors.home_document_fresh())


@endpoint("GET")
def me_nocache(request):
    try:
        return json_response(usercenter_selectors.me_from_db(user_id=request.user.pk))
    except usercenter_selectors.UserNotFound:
        return error(404, "No such user.")
