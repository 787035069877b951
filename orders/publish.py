"""What the orders app publishes to the CDN bucket (autodiscovered by staticgen):

- `products/{id}.json`: byte-for-byte `GET /api/products/<id>/` (same serializer, same DRF
  JSON encoding), read fresh from the database so a republish after an edit is never stale.
- `products/{id}.html`: the live product page as an anonymous visitor sees it.

Keeping them current is cache upkeep, not business logic: a Product save/delete schedules a
debounced republish of that product's files (and the lists that show it) after commit.
"""

from django.db.models.signals import post_delete, post_save

from orders import selectors
from orders.models import Product
from staticgen import registry, rendering, services


def render_product_json(product_id: int) -> bytes | None:
    product = selectors.product_detail_fresh(product_id=product_id)
    return None if product is None else rendering.drf_json_bytes(product)


def render_product_html(product_id: int) -> bytes | None:
    return rendering.render_view(f"/products/{product_id}/", html=True)


registry.register(
    "products/{id}.json",
    keys=selectors.product_ids_active,
    key_type=int,
    render=render_product_json,
    app="orders",
)
registry.register(
    "products/{id}.html",
    keys=selectors.product_ids_active,
    key_type=int,
    render=render_product_html,
    page=lambda product_id: f"/products/{product_id}/",
    app="orders",
)


def product_targets(product_id: int) -> list[str]:
    """Every published file that shows this product."""
    return [f"products/{product_id}.json", f"products/{product_id}.html", "home.json", "sitemap.xml"]


def _product_changed(sender, instance, **kwargs):
    services.publish_schedule(product_targets(instance.pk))


post_save.connect(_product_changed, sender=Product, dispatch_uid="staticgen-product-saved")
post_delete.connect(_product_changed, sender=Product, dispatch_uid="staticgen-product-deleted")
