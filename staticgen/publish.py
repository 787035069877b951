"""staticgen's own output: sitemap.xml, built from the live pages the other outputs declare."""

from django.conf import settings
from django.template.loader import render_to_string

from staticgen import registry


def site_url() -> str:
    return settings.STATICGEN_SITE_URL.rstrip("/")


def sitemap_pages() -> list[str]:
    pages = set()
    for output in registry.outputs():
        if output.page is None:
            continue
        for _path, key in output.all_paths():
            page = output.page_for(key)
            if page:
                pages.add(page)
    return sorted(pages)


def render_sitemap() -> str:
    base = site_url()
    return render_to_string("staticgen/sitemap.xml", {"urls": [base + page for page in sitemap_pages()]})


registry.register("sitemap.xml", render=render_sitemap, app="staticgen")
