"""API helpers shared by every app: JSON errors, and a lean JSON response for hot paths."""

from __future__ import annotations

import functools
import json
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from project.redis import RedisUnavailable

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """DRF errors as {"detail": ...} JSON; Redis outages as 503 with a clear message."""
    if isinstance(exc, RedisUnavailable):
        logger.warning("Redis unavailable in %s: %s", context.get("view"), exc)
        return Response(
            {"detail": "This feature is temporarily unavailable (cache service down). Please retry shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


def json_response(data, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """A JSON response without DRF's negotiation machinery, for the hottest paths."""
    response = HttpResponse(json.dumps(data, separators=(",", ":")), status=status, content_type="application/json")
    for k, v in (headers or {}).items():
        response[k] = v
    return response


def raw_json_response(body: bytes, status: int = 200) -> HttpResponse:
    """Send JSON that is already serialized (a cached document), without decoding it first."""
    return HttpResponse(body, status=status, content_type="application/json")


def error(status: int, detail: str, **extra) -> HttpResponse:
    return json_response({"detail": detail, **extra}, status=status)


NOT_AUTHENTICATED = "Authentication credentials were not provided."


def endpoint(*methods: str, auth: bool = True):
    """For plain-function JSON views (the hot paths): other methods get a JSON 405 with `Allow`,
    anonymous users a JSON 401 (unless auth=False). Costs two attribute reads per request."""
    allowed = tuple(m.upper() for m in methods)
    allow_header = ", ".join(allowed)

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in allowed:
                return json_response(
                    {"detail": f"Method {request.method} not allowed; use {' or '.join(allowed)}."},
                    status=405,
                    headers={"Allow": allow_header},
                )
            if auth and not request.user.is_authenticated:
                return error(401, NOT_AUTHENTICATED)
            return view(request, *args, **kwargs)

        wrapped.allowed_methods = allowed  # read by the schema's coverage test
        return wrapped

    return decorate


# A page number longer than this is past any cap below (and int() of a huge string costs CPU).
_PAGE_DIGITS = 9


def page_param(request, *, max_page: int) -> int | None:
    """`?page=N` of a JSON list: 1 when absent; None (the view answers 400) unless it is given once,
    as plain ASCII digits, within 1..max_page. The cap keeps OFFSET inside PostgreSQL's bigint."""
    values = request.GET.getlist("page")
    if not values:
        return 1
    raw = values[0]
    if len(values) > 1 or not (raw.isascii() and raw.isdigit()) or len(raw) > _PAGE_DIGITS:
        return None
    page = int(raw)
    return page if 1 <= page <= max_page else None


def redis_down(feature: str) -> HttpResponse:
    """The 503 a Redis-only path answers while Redis is unreachable."""
    return json_response(
        {"detail": f"{feature} temporarily unavailable (cache service down). Please retry shortly."},
        status=503,
        headers={"Retry-After": "5"},
    )


def json_body(request) -> dict | None:
    """The JSON (or form) body as a dict; {} when empty; None when it is not a JSON object."""
    if request.content_type == "application/json" or request.body[:1] in (b"{", b"["):
        if not request.body:
            return {}
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None
    return request.POST.dict()


# The database errors that mean "no primary to write to right now" (stopped, failing over, a
# connection that died under the request): 503 with Retry-After instead of a 500. Patroni replaces
# a dead leader in about 20 s and a switchover takes about 3 s, so clients retry every few seconds.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable(request) -> HttpResponse:
    """The 503 a request answers when the database it needs does not answer (JSON for the API)."""
    from project.views import _wants_json

    detail = "The database is temporarily unavailable (failing over). Please retry shortly."
    if _wants_json(request):
        response = json_response({"detail": detail}, status=503)
    else:
        response = HttpResponse(f"<h1>Service unavailable</h1><p>{detail}</p>", status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A view that lost its database answers 503 + Retry-After, never a 500. The connection is
    not reused: Django closes a connection with errors at the end of the request (its health is
    checked, CONN_HEALTH_CHECKS), and the next request connects to whichever node is primary.
    Errors raised in other middleware (a session or user load) reach `handler500`, which answers
    the same way (project.views.server_error)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_UNAVAILABLE):
            logger.warning("%s %s: database unavailable: %s", request.method, request.path, _first_line(exception))
            return database_unavailable(request)
        return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
