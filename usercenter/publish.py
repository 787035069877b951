"""What the user center publishes to the CDN bucket (autodiscovered by staticgen):
`home.json`, byte-for-byte the body of `GET /api/home/` (rendered through that very view, so
the cached document and its encoding are the ones the API serves)."""

from staticgen import registry, rendering


def render_home_json() -> bytes | None:
    return rendering.render_view("/api/home/", html=False)


registry.register("home.json", render=render_home_json, page=lambda: "/", app="usercenter")
