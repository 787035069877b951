"""Error pages in the site's look (JSON for API paths)."""

import sys

from django.http import JsonResponse
from django.shortcuts import render


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.META.get("HTTP_ACCEPT", "")


def bad_request(request, exception=None):
    """handler400: a request Django refuses before the view (a malformed multipart body, say)."""
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request: the body or a header could not be read."}, status=400)
    return render(request, "400.html", status=400)


def page_not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def permission_denied(request, exception=None):
    detail = str(exception or "") or "You do not have permission to do this."
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=403)
    return render(request, "403.html", {"detail": detail}, status=403)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a cookie-session write without its CSRF token (bearer clients skip it)."""
    detail = f"CSRF check failed: {reason}" if reason else "CSRF check failed."
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=403)
    return render(request, "403.html", {"detail": detail}, status=403)


def server_error(request):
    # Django calls this inside its `except`: a database outage raised outside a view (loading the
    # session or the user in middleware) is a 503 with Retry-After too, not a 500.
    from project.api import DATABASE_UNAVAILABLE, database_unavailable

    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    if _wants_json(request):
        return JsonResponse({"detail": "Internal error; it has been logged."}, status=500)
    return render(request, "500.html", status=500)
