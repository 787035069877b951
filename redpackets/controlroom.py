"""What the red packets show in the control room (a row per open campaign) and the actions
an admin runs on them there and from the change list, each confirmed and logged."""

from __future__ import annotations

from django.db.models import Count, Sum

from project import queue
from project.controlroom.registry import Action, ActionError, Panel, register_action, register_panel
from project.redis import RedisUnavailable
from redpackets import keys, selectors, services
from redpackets.models import Campaign

PANEL_LIMIT = 50  # open campaigns shown; more than this at once is not a sale an admin watches


def panel_rows() -> list[dict]:
    """One aggregate query (the persisted grabs per open campaign), then two Redis round trips
    for every campaign together."""
    rows = list(
        Campaign.objects.using("default")
        .filter(status=Campaign.Status.OPEN)
        .annotate(persisted_n=Count("grabs"), persisted_cents=Sum("grabs__amount_cents"))
        .order_by("-starts_at", "-id")
        .values("id", "title", "count", "total_cents", "starts_at", "ends_at", "persisted_n", "persisted_cents")[
            :PANEL_LIMIT
        ]
    )
    ids = [r["id"] for r in rows]
    live = selectors.live_numbers(campaign_ids=ids)
    try:
        queued = queue.numbers([keys.queue(cid) for cid in ids], time_field="at")
    except RedisUnavailable:
        queued = {}
    out = []
    for r in rows:
        numbers, q = live.get(r["id"]), queued.get(keys.queue(r["id"]), {})
        out.append(
            {
                "id": r["id"],
                "title": r["title"],
                "state": "closed" if numbers and numbers["closed"] else ("live" if numbers else "not in Redis"),
                "left": None if numbers is None else f"{numbers['remaining_count']} / {r['count']}",
                "accepted": None if numbers is None else numbers["grabbed_count"],
                "persisted": r["persisted_n"],
                "persisted_cents": int(r["persisted_cents"] or 0),
                "queue_depth": q.get("depth"),
                "in_flight": q.get("in_flight"),
                "drain_lag_seconds": (q.get("oldest_age_seconds") or 0) if q else None,
                "admin_url": f"/admin/redpackets/campaign/{r['id']}/change/",
            }
        )
    return out


def _campaign(target: str) -> int:
    if not target.isdigit() or not Campaign.objects.using("default").filter(pk=int(target)).exists():
        raise ActionError(f"No red packet {target!r}.")
    return int(target)


def _reconcile_preview(target: str) -> list[str]:
    report = services.campaign_reconcile(campaign_id=_campaign(target), fix=False)
    if report["ok"]:
        return ["Redis and the database agree: nothing to fix."]
    return [
        f"grabbed in Redis but not persisted nor queued: {len(report['missing'])}",
        f"persisted but unknown to Redis: {len(report['unknown_in_redis'])}",
        f"amounts that differ (reported only): {len(report.get('amount_mismatch', []))}",
    ]


def _reconcile(target: str) -> str:
    report = services.campaign_reconcile(campaign_id=_campaign(target), fix=True)
    if report["ok"]:
        return f"red packet {target}: consistent, nothing to fix"
    return (
        f"red packet {target}: re-queued {len(report['missing'])} grab(s), "
        f"told Redis of {len(report['unknown_in_redis'])}"
    )


def _run(fn, ok):
    def run(target: str) -> str:
        try:
            return ok(target, fn(campaign_id=_campaign(target)))
        except services.CampaignError as exc:
            raise ActionError(str(exc)) from exc

    return run


def register() -> None:
    register_panel(Panel(name="redpackets", title="Red packets open", rows=panel_rows, series="grabs", kind="campaign"))
    permission = "redpackets.change_campaign"
    register_action(
        Action(
            name="redpackets.open",
            label="Open",
            kind="campaign",
            run=_run(services.campaign_open, lambda t, r: f"red packet {t}: open, {r['shares_left']} shares left"),
            describe=lambda t: f"Load red packet {t} into Redis for grabbing (a loaded one keeps its state).",
            model=Campaign,
            permission=permission,
        )
    )
    register_action(
        Action(
            name="redpackets.close",
            label="Close",
            kind="campaign",
            run=_run(
                services.campaign_close,
                lambda t, r: f"red packet {t}: closed, {r['refunded_cents']} cents back to the owner",
            ),
            describe=lambda t: f"Stop grabs of red packet {t} for good and refund what is left to its owner.",
            model=Campaign,
            permission=permission,
            dangerous=True,
        )
    )
    register_action(
        Action(
            name="redpackets.reconcile",
            label="Reconcile",
            kind="campaign",
            run=_reconcile,
            describe=lambda t: f"Compare red packet {t} in Redis with its grabs in the database and fix what differs.",
            preview=_reconcile_preview,
            model=Campaign,
            permission=permission,
        )
    )
