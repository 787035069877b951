from django import template

from project.templatetags.surge import money

register = template.Library()


@register.filter
def rp_money(cents) -> str:
    """Money, or a dash where there is no amount yet."""
    if cents is None or cents == "":
        return "—"
    return money(cents)
