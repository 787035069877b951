"""Output (and input) serializers. The live API and staticgen's renderer use the same output
serializers, so `products/<id>.json` on the CDN and `GET /api/products/<id>/` have one shape."""

from rest_framework import serializers

from orders.models import Order, Product

PRODUCT_FIELDS = (
    "id",
    "name",
    "description",
    "image_url",
    "price_cents",
    "stock",
    "rank",
    "is_flash",
    "flash_starts_at",
    "flash_ends_at",
    "flash_per_user_limit",
    "flash_stock",
    "updated_at",
)
ORDER_FIELDS = ("id", "product_id", "product__name", "quantity", "amount_cents", "status", "source", "created_at")


class ProductOut(serializers.ModelSerializer):
    in_stock = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = (*PRODUCT_FIELDS, "in_stock")

    def get_in_stock(self, obj) -> bool:
        return obj.stock > 0


class ProductPageOut(serializers.Serializer):
    """`GET /api/products/?page=N` (schema only: the selector builds the dict)."""

    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = ProductOut(many=True)


def product_dict(product: Product) -> dict:
    """A plain JSON-able dict (no ReturnDict), safe to cache and to json.dumps."""
    return dict(ProductOut(product).data)


# The same formatting DRF applies (site time zone, ISO 8601), without a serializer per row.
_DATETIME = serializers.DateTimeField()


def order_dict(row: dict) -> dict:
    """One order row from `.values(*ORDER_FIELDS)` as the API shows it. A plain function, not a
    DRF serializer: it runs for 40 rows on every page-1 fill (hot path)."""
    return {
        "id": row["id"],
        "product_id": row["product_id"],
        "product_name": row["product__name"],
        "quantity": row["quantity"],
        "amount_cents": row["amount_cents"],
        "status": row["status"],
        "source": row["source"],
        "created_at": _DATETIME.to_representation(row["created_at"]),
    }


class OrderOut(serializers.ModelSerializer):
    product_name = serializers.CharField(source="product.name")

    class Meta:
        model = Order
        fields = ("id", "product_id", "product_name", "quantity", "amount_cents", "status", "source", "created_at")


class OrderCreateIn(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    quantity = serializers.IntegerField(min_value=1, max_value=100)
    # Printable ASCII without spaces (a UUID, say): nothing for trimming to change, no NUL for
    # PostgreSQL to refuse.
    idempotency_key = serializers.RegexField(r"^[!-~]{8,64}$", max_length=64)


class FlashBuyIn(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
