from django import template

from project.templatetags.surge import money

register = template.Library()
register.filter("money", money)


@register.filter
def when(iso: str) -> str:
    """'2026-11-25T18:05:31.1+08:00' -> '2026-11-25 18:05' (already in the site's zone)."""
    text = str(iso or "")
    return f"{text[:10]} {text[11:16]}" if len(text) >= 16 else text
