"""Abuse limits on the password endpoints: a log-in or a sign-up costs ~230 ms of CPU (password
hashing), so a flood of them would take the web tier down long before anything else does.

One middleware covers every way in (the API, the HTML forms, the admin's login): POSTs to those
paths are counted per client IP and per username with django-ratelimit's counters (in the shared
cache, so every process and host counts together), and past the limit answered 429 with
Retry-After before any password is hashed. Redis down: not limited (log-ins keep working; the
limits return with Redis).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from project.redis import RedisUnavailable

LOGIN_PATHS = frozenset({"/api/auth/login/", "/login/", "/admin/login/"})
REGISTER_PATHS = frozenset({"/api/auth/register/", "/register/"})


def client_ip(request) -> str:
    """The client's address: nginx's X-Real-IP when THROTTLE_TRUST_X_REAL_IP (production, where
    app servers are reachable only through nginx), else the socket's peer."""
    if settings.THROTTLE_TRUST_X_REAL_IP and request.META.get("HTTP_X_REAL_IP"):
        return request.META["HTTP_X_REAL_IP"]
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - a counter key, not a bind address


def _username(request) -> str:
    """The username the request tries, from a form or a JSON body; '' when there is none."""
    name = request.POST.get("username", "") if request.content_type != "application/json" else ""
    if not name and request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return ""
        name = body.get("username", "") if isinstance(body, dict) else ""
    return name.strip().lower()[:150] if isinstance(name, str) else ""


def _over(request, group: str, key, rate: str) -> int | None:
    """Seconds until the window resets if this request is over `rate`, else None."""
    usage = get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
    if usage and usage["should_limit"]:
        return max(1, int(usage["time_left"]))
    return None


def _limits(request):
    if request.path_info in LOGIN_PATHS:
        yield "login-ip", "ip", settings.LOGIN_RATE_PER_IP
        if _username(request):
            yield "login-user", lambda _g, r: _username(r), settings.LOGIN_RATE_PER_USERNAME
    elif request.path_info in REGISTER_PATHS:
        yield "register-ip", "ip", settings.REGISTER_RATE_PER_IP


class LoginThrottleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and (request.path_info in LOGIN_PATHS or request.path_info in REGISTER_PATHS):
            try:
                wait = max((w for g, k, r in _limits(request) if (w := _over(request, g, k, r))), default=None)
            except RedisUnavailable:
                wait = None
            if wait is not None:
                return self._too_many(request, wait)
        return self.get_response(request)

    def _too_many(self, request, wait: int) -> HttpResponse:
        detail = f"Too many attempts; try again in {wait} s."
        if request.path_info.startswith("/api/"):
            response = JsonResponse({"detail": detail, "retry_after_seconds": wait}, status=429)
        else:
            response = render(request, "429.html", {"detail": detail}, status=429)
        response["Retry-After"] = str(wait)
        return response
