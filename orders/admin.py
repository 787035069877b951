from django.contrib import admin

from orders import services
from orders.models import Order, Product
from project.controlroom.admin_actions import confirmed


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
    actions = [
        confirmed("orders.flash_open", "Open flash sale (load stock into Redis)…", name="open_flash_sale"),
        confirmed("orders.flash_restock", "Re-open flash sale with a fresh allotment…", name="reopen_flash_sale"),
        confirmed("orders.flash_close", "Close flash sale now…", name="close_flash_sale"),
        confirmed(
            "orders.flash_reconcile", "Reconcile flash sale with the database (and fix)…", name="reconcile_flash_sale"
        ),
    ]
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
