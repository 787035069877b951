from django.conf import settings
from django.db import models
from django.utils import timezone


class Product(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    image_url = models.URLField(max_length=500, blank=True)
    price_cents = models.PositiveIntegerField()
    # Decremented only by a conditional UPDATE (`WHERE stock >= q`); the CHECK is the last line
    # of defence against an oversell through any other path.
    stock = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    # Higher is hotter: the home page's hot list orders by it.
    rank = models.IntegerField(default=0)

    is_flash = models.BooleanField(default=False)
    flash_starts_at = models.DateTimeField(null=True, blank=True)
    flash_ends_at = models.DateTimeField(null=True, blank=True)
    flash_per_user_limit = models.PositiveSmallIntegerField(default=1)
    # Units offered in the flash sale (0 = all of `stock`); loaded into Redis when the sale opens.
    flash_stock = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="product_stock_not_negative"),
            models.CheckConstraint(
                condition=models.Q(is_flash=False)
                | models.Q(flash_starts_at__isnull=False, flash_ends_at__isnull=False),
                name="product_flash_needs_window",
            ),
        ]
        indexes = [
            models.Index(fields=["-rank", "id"], name="product_hot", condition=models.Q(is_active=True)),
            models.Index(fields=["flash_starts_at"], name="product_flash_start", condition=models.Q(is_flash=True)),
        ]
        ordering = ["-rank", "id"]

    def __str__(self):
        return self.name

    def flash_state(self, now=None) -> str:
        """upcoming | live | ended | none"""
        if not self.is_flash or not self.flash_starts_at or not self.flash_ends_at:
            return "none"
        now = now or timezone.now()
        if now < self.flash_starts_at:
            return "upcoming"
        return "live" if now < self.flash_ends_at else "ended"


class Order(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", "Created"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        NORMAL = "normal", "Normal"
        FLASH = "flash", "Flash sale"

    # order_user_newest leads with user: no second index on it to write per order.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    amount_cents = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.NORMAL)
    # Idempotency: the client's key (normal purchase, scoped by user) or the flash token.
    # UNIQUE is what makes a replayed request or a replayed queue batch create nothing twice.
    token = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="order_user_newest")]
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"order {self.pk}"
