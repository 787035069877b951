from django import template

register = template.Library()


@register.filter
def money(cents) -> str:
    """Integer cents as ¥12.34 (the same text Surge.money() writes in the browser)."""
    try:
        cents = int(cents)
    except (TypeError, ValueError):
        return ""
    return f"¥{cents // 100}.{cents % 100:02d}"
