"""Demo products (a few hundred, some in flash sales, one open now) and orders for the demo
users (demo and alice get more than one page). Idempotent and fast (bulk inserts)."""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from orders import services
from orders.models import Order, Product
from project.redis import RedisUnavailable

PRODUCTS = 300
FLASH_EVERY = 15  # every 15th product is a flash-sale product
ORDERS_PER_USER = {"demo": 55, "alice": 48, "bob": 6}
ADJECTIVES = ["Classic", "Smart", "Eco", "Ultra", "Mini", "Pro", "Cozy", "Retro", "Travel", "Daily"]
NOUNS = [
    "Headphones",
    "Kettle",
    "Backpack",
    "Desk Lamp",
    "Mug",
    "Sneakers",
    "Notebook",
    "Speaker",
    "Umbrella",
    "Water Bottle",
    "Keyboard",
    "Tea Set",
    "Phone Case",
    "Scarf",
    "Blender",
]
OPEN_SALE_NAME = "Flash: Ultra Headphones (live now)"


def seed(*, stdout) -> None:
    rng = random.Random(42)
    now = timezone.now()
    if not Product.objects.exists():
        products = []
        for i in range(1, PRODUCTS + 1):
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} #{i}"
            flash = i % FLASH_EVERY == 0
            start = now + timedelta(hours=rng.randint(1, 72)) if flash else None
            products.append(
                Product(
                    name=name,
                    description=f"A {name.lower()} that our customers love.",
                    price_cents=rng.randint(5, 500) * 100 - 1,
                    stock=rng.randint(0, 300) if i % 37 else 0,
                    rank=rng.randint(0, 1000),
                    is_flash=flash,
                    flash_starts_at=start,
                    flash_ends_at=start + timedelta(hours=2) if flash else None,
                    flash_per_user_limit=1,
                    flash_stock=100 if flash else 0,
                )
            )
        products.append(
            Product(
                name=OPEN_SALE_NAME,
                description="500 units at a price you will not see again. One per person.",
                price_cents=9900,
                stock=500,
                rank=5000,
                is_flash=True,
                flash_starts_at=now - timedelta(minutes=5),
                flash_ends_at=now + timedelta(days=7),
                flash_per_user_limit=1,
                flash_stock=500,
            )
        )
        Product.objects.bulk_create(products, batch_size=500)
        stdout.write(f"  {len(products)} products")
    open_sale = Product.objects.filter(name=OPEN_SALE_NAME).first()
    if open_sale is not None:
        if open_sale.flash_ends_at <= now:  # an old demo database: keep the sale live
            Product.objects.filter(pk=open_sale.pk).update(
                flash_starts_at=now - timedelta(minutes=5), flash_ends_at=now + timedelta(days=7)
            )
        try:
            result = services.flash_open(product_id=open_sale.pk)
            stdout.write(f"  flash sale {open_sale.pk} open with {result['stock']} units")
        except RedisUnavailable:
            stdout.write("  Redis unavailable: flash sale not loaded (run `manage.py orders flash-open`)")

    catalogue = list(Product.objects.filter(is_flash=False).values_list("id", "price_cents"))
    users = {u.username: u.pk for u in get_user_model().objects.filter(username__in=ORDERS_PER_USER)}
    for username, count in ORDERS_PER_USER.items():
        uid = users.get(username)
        if uid is None or Order.objects.filter(user_id=uid, token__startswith="demo:").exists():
            continue
        orders = []
        for i in range(count):
            pid, price = rng.choice(catalogue)
            qty = rng.randint(1, 3)
            orders.append(
                Order(
                    user_id=uid,
                    product_id=pid,
                    quantity=qty,
                    amount_cents=price * qty,
                    status=rng.choice(["created", "paid", "paid", "paid", "cancelled"]),
                    source="normal",
                    token=f"demo:{uid}:{i}",
                    created_at=now - timedelta(hours=i * 7 + rng.randint(0, 6)),
                )
            )
        with transaction.atomic(using="default"):
            Order.objects.bulk_create(orders, batch_size=500)
            services.orders_imported(user_ids=[uid])
        stdout.write(f"  {count} orders for {username}")
