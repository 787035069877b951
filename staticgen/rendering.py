"""Renderers the apps' `publish.py` use, so a published file is byte-for-byte what the live view
answers: either the live view itself, called with an anonymous GET, or the same serializer
output through the same JSON encoder the API uses."""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from django.urls import Resolver404, resolve

# A static page is the same for everybody: it must not carry one render's CSRF token (the
# content hash would change on every publish, and a shared token is useless anyway).
_CSRF_META = re.compile(rb'(<meta name="csrf-token" content=")[^"]*(")')
_CSRF_INPUT = re.compile(rb'(<input type="hidden" name="csrfmiddlewaretoken" value=")[^"]*(")')


class RenderError(RuntimeError):
    pass


def json_bytes(data) -> bytes:
    """The encoding of `project.api.json_response` (the hot-path plain views)."""
    return json.dumps(data, separators=(",", ":")).encode()


def drf_json_bytes(data) -> bytes:
    """The encoding of DRF's JSONRenderer (the `APIView` endpoints)."""
    from rest_framework.renderers import JSONRenderer

    return JSONRenderer().render(data)


def _host() -> str:
    hosts = [h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")]
    return settings.STATICGEN_RENDER_HOST or (hosts[0] if hosts else "localhost")


def strip_csrf(html: bytes) -> bytes:
    return _CSRF_INPUT.sub(rb"\1\2", _CSRF_META.sub(rb"\1\2", html))


def render_view(url_path: str, *, html: bool | None = None) -> bytes | None:
    """GET `url_path` through its live view as an anonymous visitor. 200: the body; 404 or an
    unknown URL: None (the output no longer exists); anything else raises RenderError."""
    try:
        match = resolve(url_path)
    except Resolver404:
        return None
    request = RequestFactory().get(url_path, HTTP_HOST=_host())
    request.user = AnonymousUser()
    try:
        response = match.func(request, *match.args, **match.kwargs)
    except Http404:
        return None
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise RenderError(f"{url_path} answered {response.status_code}")
    body = response.content
    if html is None:
        html = response.get("Content-Type", "").startswith("text/html")
    return strip_csrf(body) if html else body
