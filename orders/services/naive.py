"""The load harness's naive flash-buy baseline (leaves the product with the bench's own app)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import F

from orders.models import Order, Product
from orders.services.cache import orders_written
from orders.services.errors import FlashEnded, FlashLimitReached, FlashNotStarted, FlashSoldOut, NotAFlashProduct


def flash_buy_naive(*, user_id: int, product_id: int, quantity: int = 1) -> dict:
    """The load harness's baseline: the whole flash buy in the request, serialized on the
    product row (SELECT ... FOR UPDATE). Correct, and as slow as one row lock allows."""
    with transaction.atomic(using="default"):
        product = Product.objects.select_for_update().filter(pk=product_id, is_active=True).first()
        if product is None or not product.is_flash:
            raise NotAFlashProduct("No flash sale for this product.")
        state = product.flash_state()
        if state == "upcoming":
            raise FlashNotStarted("The sale has not started yet.")
        if state == "ended":
            raise FlashEnded("The sale has ended.")
        bought = sum(
            Order.objects.filter(user_id=user_id, product_id=product_id, source=Order.Source.FLASH).values_list(
                "quantity", flat=True
            )
        )
        if bought + quantity > product.flash_per_user_limit:
            raise FlashLimitReached("You have reached the per-user limit for this sale.", bought=bought)
        if product.stock < quantity:
            raise FlashSoldOut("Sold out.")
        Product.objects.filter(pk=product_id).update(stock=F("stock") - quantity)
        order = Order.objects.create(
            user_id=user_id,
            product_id=product_id,
            quantity=quantity,
            amount_cents=product.price_cents * quantity,
            source=Order.Source.FLASH,
            token=f"naive-{uuid.uuid4().hex}",
        )
        orders_written(user_ids=[user_id])
    return {"id": order.pk, "product_id": product_id, "quantity": quantity, "amount_cents": order.amount_cents}
