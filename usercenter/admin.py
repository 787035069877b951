from django.contrib import admin

from usercenter.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "key_hash_prefix", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name")
    readonly_fields = ("user", "key_hash", "created_at")

    @admin.display(description="token hash")
    def key_hash_prefix(self, obj):
        return obj.key_hash[:12] + "…"

    def has_add_permission(self, request):
        return False  # tokens are issued by log-in; their plain text is never stored
