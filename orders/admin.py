from django.contrib import admin, messages

from orders import services
from orders.models import Order, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "price_cents",
        "stock",
        "rank",
        "is_active",
        "is_flash",
        "flash_starts_at",
        "flash_ends_at",
        "flash_stock",
        "updated_at",
    )
    list_filter = ("is_active", "is_flash")
    search_fields = ("name",)
    list_editable = ("rank", "is_active")
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-rank", "id")
    actions = ["open_flash_sale", "reopen_flash_sale"]
    fieldsets = (
        (None, {"fields": ("name", "description", "image_url", "price_cents", "stock", "rank", "is_active")}),
        (
            "Flash sale",
            {"fields": ("is_flash", "flash_starts_at", "flash_ends_at", "flash_per_user_limit", "flash_stock")},
        ),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "image_url":
            kwargs["assume_scheme"] = "https"  # image hosts are https; also Django 6's default
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.product_changed(product_id=obj.pk)

    def _open(self, request, queryset, restock: bool):
        opened = 0
        for product in queryset:
            try:
                result = services.flash_open(product_id=product.pk, restock=restock)
            except services.OrderError as exc:
                self.message_user(request, f"{product}: {exc.detail}", messages.WARNING)
                continue
            opened += 1
            self.message_user(request, f"{product}: {result['stock']} units in the sale.", messages.SUCCESS)
        if not opened:
            self.message_user(request, "No flash sale opened.", messages.WARNING)

    @admin.action(description="Open flash sale (load stock into Redis)")
    def open_flash_sale(self, request, queryset):
        self._open(request, queryset, restock=False)

    @admin.action(description="Re-open flash sale with a fresh allotment")
    def reopen_flash_sale(self, request, queryset):
        self._open(request, queryset, restock=True)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "product", "quantity", "amount_cents", "status", "source", "created_at")
    list_filter = ("status", "source", "created_at")
    search_fields = ("=id", "user__username", "product__name", "=token")
    list_select_related = ("user", "product")
    raw_id_fields = ("user", "product")
    readonly_fields = ("token", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False  # COUNT(*) over millions of orders on every page is not free
