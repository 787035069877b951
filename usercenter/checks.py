"""Start-up checks of the user center (run by `migrate`, `check`, `runserver`)."""

from django.core import checks


def check_field_groups(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every field `/api/me/` shows must come from a registered field group, and every home
    section the document needs must be registered: an app left out fails here, not as a zero."""
    from usercenter import registry, selectors

    registered = {f for g in registry.field_groups() for f in g.fields}
    errors = [
        checks.Error(
            f"/api/me/ field {name!r} belongs to no registered field group of the user hash",
            hint="register it in the owning app's AppConfig.ready() (usercenter.registry.register_field_group)",
            id="usercenter.E001",
        )
        for name in selectors.ME_FIELDS
        if name not in registered
    ]
    errors += [
        checks.Error(f"home section {name!r} is not registered", id="usercenter.E002")
        for name in selectors.HOME_SECTIONS
        if name not in registry.home_sections()
    ]
    return errors
