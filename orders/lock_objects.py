"""Every row lock the orders app takes, in one place: querysets for use inside `atomic`.
Several rows are always locked in id order, so two transactions never wait on each other."""

from django.db.models import QuerySet

from orders.models import Product


def product_for_update(product_id: int) -> QuerySet[Product]:
    return Product.objects.using("default").select_for_update().filter(pk=product_id)


def products_for_update(product_ids) -> QuerySet[Product]:
    return Product.objects.using("default").select_for_update().filter(pk__in=list(product_ids)).order_by("pk")
