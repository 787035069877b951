"""The user center's control-room actions: rebuild the home document, rebuild a user's caches.
Both confirmed and logged like every control-room action; both safe to run again."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from project.controlroom.registry import Action, ActionError, register_action
from usercenter import services


def _rebuild_home(_target: str) -> str:
    doc = services.home_rebuild()
    return (
        f"home document rebuilt: {len(doc['products'])} products, {len(doc['announcements'])} announcements "
        f"(version {doc['version']})"
    )


def _user(target: str) -> int:
    if not target.isdigit() or not get_user_model().objects.using("default").filter(pk=int(target)).exists():
        raise ActionError(f"No user {target!r}.")
    return int(target)


def _rebuild_user(target: str) -> str:
    user_id = _user(target)
    dropped = services.user_cache_clear(user_id=user_id)
    return f"user {user_id}: dropped {', '.join(dropped)}; refilled from the database on the next read"


def register() -> None:
    register_action(
        Action(
            name="usercenter.rebuild_home",
            label="Rebuild the home document",
            kind="",
            run=_rebuild_home,
            describe=lambda _t: "Rebuild the home document from the database now and republish home.json.",
        )
    )
    register_action(
        Action(
            name="usercenter.rebuild_user",
            label="Rebuild a user's caches",
            kind="user",
            run=_rebuild_user,
            describe=lambda t: f"Drop everything Redis caches about user {t} (the user stays logged in).",
            model=get_user_model(),
            permission="auth.change_user",
        )
    )
