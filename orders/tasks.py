"""Thin Celery tasks of the orders app."""

from celery import shared_task

from orders import services
from project.redis import RedisUnavailable


@shared_task(name="orders.tasks.flash_open_due", acks_late=True, ignore_result=True)
def flash_open_due():
    return services.flash_open_due()


@shared_task(name="orders.tasks.flash_open", acks_late=True, ignore_result=True)
def flash_open(product_id: int, restock: bool = False):
    return services.flash_open(product_id=product_id, restock=restock)


@shared_task(name="orders.tasks.reconcile_flash", acks_late=True, ignore_result=True)
def reconcile_flash():
    try:
        reports = services.flash_reconcile_active(fix=True)
    except RedisUnavailable:
        return {}  # the next beat tick compares again
    return {r["product_id"]: r["ok"] for r in reports}
