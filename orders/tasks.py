"""Thin Celery tasks of the orders app."""

from celery import shared_task

from orders import services


@shared_task(name="orders.tasks.flash_open_due", acks_late=True, ignore_result=True)
def flash_open_due():
    return services.flash_open_due()


@shared_task(name="orders.tasks.flash_open", acks_late=True, ignore_result=True)
def flash_open(product_id: int, restock: bool = False):
    return services.flash_open(product_id=product_id, restock=restock)
