"""What other apps plug into the user center, registered in their `AppConfig.ready()` (the
pattern of staticgen's publish registry):

- a field group of the per-user hash `user:{uid}`: its fields and a loader reading them from
  the database; the hash reloads a group as a whole when any of its fields is missing, and an
  app drops its own group after a write (`services.user_fields_invalidate`);
- what else the app caches per user, for `services.user_cache_clear`;
- a section of the shared home document (the hot products).

    from usercenter import registry

    registry.register_field_group(
        "orders",
        fields=("orders_count",),
        load=selectors.user_center_fields,   # (*, user_id) -> {"orders_count": ...}
        app="orders",
        clear=("orders page 1", lambda user_id: services.order_list_forget(user_ids=[user_id])),
    )

A misspelt group fails loudly (UnknownFieldGroup), never as a silent zero; the system check
`usercenter.E001` fails start-up (`migrate`, `check`, `runserver`) when a field `/api/me/`
shows belongs to no registered group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class RegistryError(ValueError):
    pass


class UnknownFieldGroup(RegistryError, KeyError):
    pass


@dataclass(frozen=True)
class FieldGroup:
    name: str
    fields: tuple[str, ...]
    load: Callable[..., dict]  # load(user_id=...) -> {field: value}, from the database
    app: str = ""
    clear: tuple[str, Callable[[int], None]] | None = None  # (label, user id -> None)


_groups: dict[str, FieldGroup] = {}
_home_sections: dict[str, Callable[..., list]] = {}


def register_field_group(
    name: str,
    *,
    fields: tuple[str, ...] | list[str],
    load: Callable[..., dict],
    app: str = "",
    clear: tuple[str, Callable[[int], None]] | None = None,
) -> FieldGroup:
    """Register (or re-register, e.g. on a reload) one group. Two groups never share a field:
    the hash would not know whose loader refills it."""
    fields = tuple(fields)
    if not name or not fields:
        raise RegistryError(f"field group {name!r}: a name and at least one field")
    for other in _groups.values():
        shared = set(fields) & set(other.fields)
        if other.name != name and shared:
            raise RegistryError(f"field group {name!r}: {sorted(shared)} already belong to {other.name!r}")
    group = FieldGroup(name=name, fields=fields, load=load, app=app, clear=clear)
    _groups[name] = group
    return group


def unregister_field_group(name: str) -> None:
    _groups.pop(name, None)


def field_groups() -> list[FieldGroup]:
    """Every registered group, in registration order (the account first: usercenter is first)."""
    return list(_groups.values())


def field_group(name: str) -> FieldGroup:
    try:
        return _groups[name]
    except KeyError:
        raise UnknownFieldGroup(f"no field group {name!r} of the user hash (known: {sorted(_groups)})") from None


def register_home_section(name: str, *, load: Callable[..., list]) -> None:
    """A list in the home document, `load(limit=N)` from the database (cached by the caller)."""
    _home_sections[name] = load


def home_section(name: str) -> Callable[..., list]:
    try:
        return _home_sections[name]
    except KeyError:
        raise RegistryError(f"no home section {name!r} registered (known: {sorted(_home_sections)})") from None


def home_sections() -> list[str]:
    return list(_home_sections)
