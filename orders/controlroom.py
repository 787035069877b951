"""What the flash sales show in the control room (a row per sale loaded or in its window) and
the actions an admin runs on them there and from the change list, each confirmed and logged."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from orders import keys, services
from orders.models import Order, Product
from project import queue
from project.controlroom.registry import Action, ActionError, Panel, register_action, register_panel
from project.redis import RedisUnavailable, get_redis

PANEL_LIMIT = 50


def _sales(now) -> list[dict]:
    """Flash sales whose window is open now or was within the last hour (their queue may still
    drain), with their persisted flash orders: one query."""
    recent = now - timezone.timedelta(hours=1)
    return list(
        Product.objects.using("default")
        .filter(is_flash=True, flash_starts_at__lte=now + timezone.timedelta(minutes=10), flash_ends_at__gte=recent)
        .annotate(
            persisted_n=Count("orders", filter=Q(orders__source=Order.Source.FLASH)),
        )
        .order_by("flash_ends_at", "id")
        .values("id", "name", "flash_starts_at", "flash_ends_at", "flash_stock", "stock", "persisted_n")[:PANEL_LIMIT]
    )


def panel_rows() -> list[dict]:
    now = timezone.now()
    sales = _sales(now)
    ids = [s["id"] for s in sales]
    live: dict[int, tuple] = {}
    queued: dict[str, dict] = {}
    try:
        if ids:
            pipe = get_redis().pipeline(transaction=False)
            for pid in ids:
                pipe.exists(keys.flash_meta(pid))
                pipe.get(keys.flash_stock(pid))
                pipe.hlen(keys.flash_status(pid))
            raw = pipe.execute()
            live = {pid: tuple(raw[3 * i : 3 * i + 3]) for i, pid in enumerate(ids)}
        queued = queue.numbers([keys.flash_queue(pid) for pid in ids], time_field="ts")
    except RedisUnavailable:
        live, queued = {}, {}
    out = []
    for s in sales:
        pid = s["id"]
        loaded, stock_left, statuses = live.get(pid, (None, None, None))
        q = queued.get(keys.flash_queue(pid), {})
        if s["flash_starts_at"] > now:
            state = "upcoming"
        elif s["flash_ends_at"] <= now:
            state = "ended"
        else:
            state = "live" if loaded else "not in Redis"
        out.append(
            {
                "id": pid,
                "title": s["name"],
                "state": state,
                "left": None if stock_left is None else int(stock_left),
                # The status hash holds one entry per accepted buy, plus a placeholder.
                "accepted": None if statuses is None else max(0, int(statuses) - 1),
                "persisted": s["persisted_n"],
                "queue_depth": q.get("depth"),
                "in_flight": q.get("in_flight"),
                "drain_lag_seconds": (q.get("oldest_age_seconds") or 0) if q else None,
                "admin_url": f"/admin/orders/product/{pid}/change/",
            }
        )
    return out


def _product(target: str) -> int:
    if not target.isdigit():
        raise ActionError(f"No product {target!r}.")
    return int(target)


def _guarded(fn):
    def run(target: str) -> str:
        try:
            return fn(_product(target))
        except services.OrderError as exc:
            raise ActionError(exc.detail) from exc

    return run


def _open(restock: bool):
    def run(pid: int) -> str:
        result = services.flash_open(product_id=pid, restock=restock)
        return f"flash sale {pid}: {result['stock']} units in the sale"

    return _guarded(run)


def _close(pid: int) -> str:
    result = services.flash_end(product_id=pid)
    if not result["closed_now"]:
        return f"flash sale {pid}: already over (ended {result['ended_at']}); nothing changed"
    return f"flash sale {pid}: closed now; {result['pending']} accepted buy(s) still to be written"


def _reconcile(pid: int) -> str:
    report = services.flash_reconcile(product_id=pid, fix=True)
    if report["ok"]:
        return f"flash sale {pid}: consistent, nothing to fix"
    return (
        f"flash sale {pid}: repaired {len(report['lost_tokens'])} lost token(s), "
        f"{report['stale_statuses']} stale status(es), {report['over_counted_users']} over-counted user(s)"
    )


def _reconcile_preview(target: str) -> list[str]:
    try:
        report = services.flash_reconcile(product_id=_product(target), fix=False)
    except services.OrderError as exc:
        raise ActionError(exc.detail) from exc
    if report["ok"]:
        return ["Redis and the database agree: nothing to fix."]
    return [
        f"accepted tokens neither queued nor written: {len(report['lost_tokens'])}",
        f"statuses still pending for written orders: {report['stale_statuses']}",
        f"users counted above their orders: {report['over_counted_users']}",
        f"Redis stock above what the database can supply: {report['redis_stock_above_db']}",
    ]


def register() -> None:
    register_panel(Panel(name="flash", title="Flash sales", rows=panel_rows, series="buys", kind="flash"))
    common = {"kind": "flash", "model": Product, "permission": "orders.change_product"}
    register_action(
        Action(
            name="orders.flash_open",
            label="Open",
            run=_open(restock=False),
            describe=lambda t: f"Load flash sale {t} into Redis (a loaded sale keeps its stock and buyers).",
            **common,
        )
    )
    register_action(
        Action(
            name="orders.flash_restock",
            label="Re-stock",
            run=_open(restock=True),
            describe=lambda t: f"Re-open flash sale {t} with a fresh allotment of units.",
            dangerous=True,
            **common,
        )
    )
    register_action(
        Action(
            name="orders.flash_close",
            label="Close",
            run=_guarded(_close),
            describe=lambda t: f"End flash sale {t} now: new buys answer 410; accepted buys still become orders.",
            dangerous=True,
            **common,
        )
    )
    register_action(
        Action(
            name="orders.flash_reconcile",
            label="Reconcile",
            run=_guarded(_reconcile),
            describe=lambda t: f"Compare flash sale {t} in Redis with its orders and fix what differs.",
            preview=_reconcile_preview,
            **common,
        )
    )
