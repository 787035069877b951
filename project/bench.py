"""Bare views the load harness measures everything else against (mounted only with
BENCH_BASELINES=1): the cost of Django itself, anonymous and with the same authentication the
hot paths use, and the same again with one Redis round trip (the floor of any view that must ask
Redis once, as the grab and the flash buy must)."""

from django.urls import path

from project.api import endpoint, json_response, redis_down
from project.redis import RedisUnavailable, get_redis, hot_script

_ECHO = "return ARGV[1]"
_echo_script = None


def bare(request):
    return json_response({"ok": True})


@endpoint("GET", "POST")
def bare_auth(request):
    """The same checks the hot paths make (method, authentication), and nothing else."""
    return json_response({"ok": True, "user_id": request.user.pk})


@endpoint("GET", "POST")
def bare_redis(request):
    """`bare_auth` plus one EVALSHA of a one-line script on the hot connection (the grab's
    client, no keys, no data): what one Redis round trip costs a request, and so the most a
    grab could reach."""
    global _echo_script
    try:
        if _echo_script is None:
            _echo_script = get_redis().register_script(_ECHO)
        user_id = hot_script(_echo_script, keys=[], args=[request.user.pk])
    except RedisUnavailable:
        return redis_down("The bench's Redis view is")
    return json_response({"ok": True, "user_id": int(user_id)})


urls = [
    path("bare/", bare, name="bench-bare"),
    path("bare-auth/", bare_auth, name="bench-bare-auth"),
    path("bare-redis/", bare_redis, name="bench-bare-redis"),
]
