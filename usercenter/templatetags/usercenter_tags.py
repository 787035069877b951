from django import template

register = template.Library()


@register.filter
def money(cents) -> str:
    """Integer cents as the site shows money (the same as Surge.money in site.js)."""
    try:
        cents = int(cents)
    except (TypeError, ValueError):
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}¥{abs(cents) // 100}.{abs(cents) % 100:02d}"


@register.filter
def when(iso: str) -> str:
    """'2026-11-25T18:05:31.1+08:00' -> '2026-11-25 18:05' (already in the site's zone)."""
    text = str(iso or "")
    return f"{text[:10]} {text[11:16]}" if len(text) >= 16 else text
