"""Running a registered action once: permission, a one-time confirmation nonce (a form sent
twice runs once), and the admin log entry saying who did what. The kernel's own actions (dead
letters) are registered here; the apps register theirs in AppConfig.ready()."""

from __future__ import annotations

import json
import logging
import uuid

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

from project import queue
from project.controlroom.registry import Action, ActionError, get_action, register_action
from project.redis import RedisUnavailable, get_redis
from project.tasks import kick_drain

logger = logging.getLogger(__name__)

# A confirmed form's nonce is remembered this long: a second submit of it within that time
# reports the first run instead of running again.
NONCE_SECONDS = 3600


def nonce_key(nonce: str) -> str:
    return f"controlroom:done:{nonce}"


def new_nonce() -> str:
    return uuid.uuid4().hex


def allowed(user, action: Action) -> bool:
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or bool(action.permission and user.has_perm(action.permission))


def perform(*, user, action_name: str, targets: list[str], nonce: str) -> tuple[list[str], bool]:
    """Run the action on each target once per nonce. Returns (messages, already_done): a nonce
    seen before returns the first run's messages and runs nothing. Raises ActionError."""
    action = get_action(action_name)
    if action is None:
        raise ActionError(f"No action {action_name!r}.")
    if not allowed(user, action):
        raise ActionError("You may not run this action.")
    if not nonce or len(nonce) > 64:
        raise ActionError("The confirmation is missing; open the action again.")
    client = get_redis()
    if not client.set(nonce_key(nonce), json.dumps({"running": True}), nx=True, ex=NONCE_SECONDS):
        raw = client.get(nonce_key(nonce))
        first = json.loads(raw) if raw else {}
        return first.get("messages", ["This confirmation is still being carried out."]), True
    out = []
    try:
        for target in targets:
            try:
                message = action.run(target)
            except ActionError as exc:
                message = f"{target}: {exc}"
            except RedisUnavailable as exc:
                message = f"{target}: Redis is unavailable ({exc})"
            _log(user=user, action=action, target=target, message=message)
            out.append(message)
    except Exception:
        client.delete(nonce_key(nonce))  # nothing (more) ran: the admin may confirm again
        raise
    client.set(nonce_key(nonce), json.dumps({"messages": out}), ex=NONCE_SECONDS)
    return out, False


def _log(*, user, action: Action, target: str, message: str) -> None:
    """One admin log entry per target: on the object when the action names its model."""
    content_type = ContentType.objects.get_for_model(action.model) if action.model else None
    repr_ = f"{action.model._meta.verbose_name} {target}" if action.model else f"{action.kind} {target}".strip()
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=content_type,
        object_id=target if action.model else None,
        object_repr=repr_[:200],
        action_flag=CHANGE,
        change_message=f"Control room: {action.label}: {message}"[:2000],
    )
    logger.warning("control room: %s ran %s on %s: %s", user.get_username(), action.name, target, message)


# ---------------------------------------------------------------- the kernel's actions
# Also what `manage.py queue replay-dead` runs: one implementation behind the page and the command.


def known_queue(target: str) -> str:
    if "{" not in target or not target.isprintable():
        raise ActionError(f"{target!r} is not a queue key.")
    return target


def dead_preview(target: str) -> list[str]:
    n, items = queue.dead_letters(known_queue(target), limit=50)
    shown = [i.decode(errors="replace")[:300] for i in items]
    if n > len(shown):
        shown.append(f"… and {n - len(shown)} more")
    return shown or ["(no dead letters)"]


def replay_dead(target: str) -> str:
    n = queue.dead_replay(known_queue(target))
    if n:
        kick_drain()
        return f"{n} dead letter(s) put back on {target}"
    return f"no dead letters on {target} (nothing replayed)"


def set_aside(target: str, count: int = 1) -> str:
    n = queue.dead_set_aside(known_queue(target), count=count)
    if n:
        return f"{n} event(s) at the head of {target} set aside as dead letters"
    return f"{target} is empty (nothing set aside)"


def discard_dead(target: str) -> str:
    n = queue.dead_discard(known_queue(target))
    return f"{n} dead letter(s) of {target} discarded" if n else f"no dead letters on {target} (nothing discarded)"


def register_kernel_actions() -> None:
    register_action(
        Action(
            name="queue.replay_dead",
            label="Replay dead letters",
            kind="queue",
            run=replay_dead,
            describe=lambda t: f"Put the dead letters of {t} back on the queue, for the drain to try again.",
            preview=dead_preview,
        )
    )
    register_action(
        Action(
            name="queue.discard_dead",
            label="Discard dead letters",
            kind="queue",
            run=discard_dead,
            describe=lambda t: f"Delete the dead letters of {t} for good.",
            preview=dead_preview,
            dangerous=True,
        )
    )
