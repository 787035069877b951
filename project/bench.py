"""Bare views the load harness measures everything else against (mounted only with
BENCH_BASELINES=1): the cost of Django itself, anonymous and with the same authentication the
hot paths use."""

from django.urls import path

from project.api import endpoint, json_response


def bare(request):
    return json_response({"ok": True})


@endpoint("GET", "POST")
def bare_auth(request):
    """The same checks the hot paths make (method, authentication), and nothing else."""
    return json_response({"ok": True, "user_id": request.user.pk})


urls = [path("bare/", bare, name="bench-bare"), path("bare-auth/", bare_auth, name="bench-bare-auth")]
