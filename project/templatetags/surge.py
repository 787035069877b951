from django import template

register = template.Library()


@register.filter
def money(cents) -> str:
    """Integer cents as the site shows money (the same text Surge.money writes in site.js)."""
    try:
        cents = int(cents)
    except (TypeError, ValueError):
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}¥{abs(cents) // 100}.{abs(cents) % 100:02d}"
