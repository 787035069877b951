"""What the user center publishes to the CDN bucket (autodiscovered by staticgen):
`home.json`, byte-for-byte the body of `GET /api/home/` (rendered through that very view, so
the cached document and its encoding are the ones the API serves).

Keeping it current is cache upkeep: when the debounced home rebuild task has stored a new
document, republish `home.json` (debounced too) so the CDN copy catches up within seconds.
"""

from celery.signals import task_postrun

from staticgen import registry, rendering, services

HOME_REBUILD_TASK = "usercenter.tasks.home_rebuild"


def render_home_json() -> bytes | None:
    return rendering.render_view("/api/home/", html=False)


registry.register("home.json", render=render_home_json, page=lambda: "/", app="usercenter")


def _home_rebuilt(sender=None, state=None, **kwargs):
    if getattr(sender, "name", None) == HOME_REBUILD_TASK and state == "SUCCESS":
        services.publish_schedule(["home.json"])


task_postrun.connect(_home_rebuilt, weak=False, dispatch_uid="staticgen-home-rebuilt")
