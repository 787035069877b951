"""API helpers shared by every app: JSON errors, and a lean JSON response for hot paths."""

from __future__ import annotations

import json
import logging

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


def error(status: int, detail: str, **extra) -> HttpResponse:
    return json_response({"detail": detail, **extra}, status=status)
