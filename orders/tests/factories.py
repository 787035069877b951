import itertools
import uuid
from datetime import timedelta

from django.utils import timezone

from orders.models import Order, Product

_n = itertools.count(1)


def make_product(**kw) -> Product:
    n = next(_n)
    fields = {"name": f"Product {n}", "price_cents": 1000, "stock": 100, "rank": n}
    fields.update(kw)
    return Product.objects.create(**fields)


def make_flash_product(*, stock=100, limit=1, starts_in=-60, lasts=3600, **kw) -> Product:
    now = timezone.now()
    kw.setdefault("flash_stock", stock)
    return make_product(
        is_flash=True,
        stock=stock,
        flash_per_user_limit=limit,
        flash_starts_at=now + timedelta(seconds=starts_in),
        flash_ends_at=now + timedelta(seconds=starts_in + lasts),
        **kw,
    )


def make_orders(*, user, product, count: int) -> list[Order]:
    """Old orders in bulk, newest first by created_at (i = 0 is the newest)."""
    now = timezone.now()
    return Order.objects.bulk_create(
        [
            Order(
                user=user,
                product=product,
                quantity=1,
                amount_cents=product.price_cents,
                token=f"t-{uuid.uuid4().hex}",
                created_at=now - timedelta(minutes=i + 1),
            )
            for i in range(count)
        ]
    )
