"""`nav_name`: what the navigation calls the logged-in user (the nickname when set).

Lazy: computed only when a template prints it, from the user's cached hash (one HMGET, zero
SQL on a hit). In base.html: `{{ nav_name|default:user.username }}`.
"""

from django.utils.functional import SimpleLazyObject

from usercenter import selectors


def nav(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    user_id, username = user.pk, user.username
    return {"nav_name": SimpleLazyObject(lambda: selectors.nav_name(user_id=user_id, username=username))}
