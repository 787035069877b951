"""Bare views the load harness measures everything else against (mounted only with
BENCH_BASELINES=1): the cost of Django itself, anonymous and with the same authentication the
hot paths use."""

from django.urls import path

from project.api import error, json_response


def bare(request):
    return json_response({"ok": True})


def bare_auth(request):
    if not request.user.is_authenticated:
        return error(401, "Authentication credentials were not provided.")
    return json_response({"ok": True, "user_id": request.user.pk})


urls = [path("bare/", bare, name="bench-bare"), path("bare-auth/", bare_auth, name="bench-bare-auth")]
