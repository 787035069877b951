from django import template

register = template.Library()


@register.filter
def rp_money(cents) -> str:
    """Integer cents as ¥12.34 (the same text Surge.money() writes in the browser)."""
    if cents is None or cents == "":
        return "—"
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}¥{cents // 100}.{cents % 100:02d}"
