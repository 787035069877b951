"""What apps show in the control room and what it lets an admin do, registered by the apps
(like staticgen's outputs and the queue families), so the kernel stays free of app imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class ActionError(Exception):
    """The action cannot run on this target; the message is for the admin."""


@dataclass(frozen=True)
class Panel:
    """A table of live rows (one per open campaign or sale). `rows()` must cost a fixed number
    of SQL queries whatever the number of rows (one aggregate query, then Redis pipelines).

    Each row: id, title, state, left, accepted, persisted, queue_depth, in_flight,
    drain_lag_seconds (age of the oldest waiting event), admin_url; plus anything else shown.
    `series` names the chart the accepted totals feed (e.g. "grabs", "buys")."""

    name: str
    title: str
    rows: Callable[[], list[dict]]
    series: str = ""
    kind: str = ""  # the target kind of the actions offered on each row
    left_label: str = "left"


@dataclass(frozen=True)
class Action:
    """An operator action. `run(target)` does it and returns what happened, for people; it must
    be idempotent (a second run changes nothing more). `describe(target)` says what it will do,
    `preview(target)` lists what it acts on (e.g. the dead letters), shown before confirming."""

    name: str
    label: str
    kind: str
    run: Callable[[str], str]
    describe: Callable[[str], str]
    preview: Callable[[str], list[str]] | None = None
    model: type | None = None  # the model whose admin log entry records it (target = its pk)
    permission: str = ""  # e.g. "orders.change_product"; empty: superusers only
    dangerous: bool = False
    extra: dict = field(default_factory=dict)


_panels: dict[str, Panel] = {}
_actions: dict[str, Action] = {}


def register_panel(panel: Panel) -> None:
    _panels[panel.name] = panel


def register_action(action: Action) -> None:
    _actions[action.name] = action


def panels() -> list[Panel]:
    return list(_panels.values())


def actions(kind: str | None = None) -> list[Action]:
    return [a for a in _actions.values() if kind is None or a.kind == kind]


def get_action(name: str) -> Action | None:
    return _actions.get(name)
