"""Normal (not flash-sale) purchases: a conditional stock UPDATE and one order row."""

from __future__ import annotations

from django.db import IntegrityError, connections, transaction

from orders.models import Order, Product
from orders.serializers import ORDER_FIELDS, order_dict
from orders.services.cache import orders_written, stock_changed
from orders.services.errors import InvalidOrder, OutOfStock, ProductNotFound
from project.sql import table

MAX_QUANTITY = 100

_BUY_SQL = f"""
UPDATE {table(Product)} SET stock = stock - %s
 WHERE id = %s AND is_active AND NOT is_flash AND stock >= %s
RETURNING price_cents, name
"""


def _existing_order(*, token: str, user_id: int) -> dict | None:
    row = Order.objects.using("default").filter(token=token, user_id=user_id).values(*ORDER_FIELDS).first()
    return order_dict(row) if row else None


def order_create(*, user_id: int, product_id: int, quantity: int, idempotency_key: str) -> tuple[dict, bool]:
    """Buy `quantity` units: one transaction, a conditional stock UPDATE (no read-modify-write,
    no oversell), one order row. The same idempotency key again returns the first order.
    Returns (order, created)."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"quantity must be between 1 and {MAX_QUANTITY}.")
    idempotency_key = (idempotency_key or "").strip()
    if not 8 <= len(idempotency_key) <= 64:
        raise InvalidOrder("idempotency_key must be 8 to 64 characters.")
    # Scoped by user: one client's key can never return (or block) another user's order.
    token = f"n:{user_id}:{idempotency_key}"
    existing = _existing_order(token=token, user_id=user_id)
    if existing:
        return existing, False
    try:
        with transaction.atomic(using="default"):
            cursor = connections["default"].cursor()
            cursor.execute(_BUY_SQL, [quantity, product_id, quantity])
            row = cursor.fetchone()
            if row is None:
                product = Product.objects.filter(pk=product_id, is_active=True).values("is_flash", "stock").first()
                if product is None:
                    raise ProductNotFound("No such product.")
                if product["is_flash"]:
                    raise InvalidOrder("This product is sold in a flash sale: use the flash-sale buy.")
                raise OutOfStock("Out of stock.", stock=product["stock"])
            order = Order.objects.create(
                user_id=user_id,
                product_id=product_id,
                quantity=quantity,
                amount_cents=row[0] * quantity,
                source=Order.Source.NORMAL,
                token=token,
            )
            orders_written(user_ids=[user_id])
            stock_changed(product_ids=[product_id])
    except IntegrityError:
        # The same key raced with itself: the loser's stock decrement rolled back with it.
        existing = _existing_order(token=token, user_id=user_id)
        if existing:
            return existing, False
        raise
    return order_dict({**{f: getattr(order, f) for f in ORDER_FIELDS if "__" not in f}, "product__name": row[1]}), True
