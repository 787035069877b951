"""Shared OpenAPI pieces for the apps' API views: the JSON error shapes and their descriptions.
No app imports here, so every app's api.py can use it (project/schema.py holds the rest)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers


class ErrorOut(serializers.Serializer):
    """Every error answer: a human-readable `detail`, sometimes with fields that say more."""

    detail = serializers.CharField()


# The validation answer is either shape: a body that is not an object gets {"detail"}, a bad
# field gets {"<field>": [...]}; anyOf because both are objects.
_FIELD_ERRORS_SCHEMA = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
BAD_REQUEST_SCHEMA = {"anyOf": [{"$ref": "#/components/schemas/ErrorOut"}, _FIELD_ERRORS_SCHEMA]}

DESCRIPTIONS = {
    400: "The request is malformed or a value is out of range.",
    401: "Not signed in, or the bearer token is invalid, expired or revoked.",
    403: "CSRF check failed (cookie sessions), or the account is disabled.",
    404: "No such resource (or not yours).",
    409: "Conflicts with what already happened.",
    410: "Gone: sold out or ended.",
    415: "The body's content type is not JSON, a form or multipart.",
    425: "Too early: it has not started yet.",
    429: "Throttled: retry after `Retry-After` seconds.",
    503: "A store behind this endpoint is unreachable; retry after `Retry-After` seconds.",
}


def error(code: int, description: str | None = None, serializer=ErrorOut) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description or DESCRIPTIONS[code])


def errors(*codes: int) -> dict:
    """{status: error response} for extend_schema(responses=...)."""
    return {code: error(code) for code in codes}


BAD_REQUEST = OpenApiResponse(BAD_REQUEST_SCHEMA, description=DESCRIPTIONS[400])


def error_shape(name: str, **fields) -> serializers.Serializer:
    """An error body with fields beyond `detail` (a component named `name`)."""
    return inline_serializer(name, fields={"detail": serializers.CharField(), **fields})


def page_parameter(max_page: int) -> OpenApiParameter:
    return OpenApiParameter(
        "page",
        {"type": "integer", "minimum": 1, "maximum": max_page},
        OpenApiParameter.QUERY,
        required=False,
        description=f"1 to {max_page} (default 1).",
    )
