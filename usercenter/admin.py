from django.contrib import admin

from project.controlroom.admin_actions import confirmed
from usercenter import services
from usercenter.models import Announcement, ApiToken, LedgerEntry, Profile, RevokedToken, Wallet


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


@admin.register(RevokedToken)
class RevokedTokenAdmin(admin.ModelAdmin):
    """Read-only: revocations are written when a token is deleted (logout, the token admin above,
    a deleted or deactivated user, `manage.py tokens revoke`); rows go when the token expires."""

    list_display = ("key_hash_prefix", "user_id", "revoked_at", "expires_at")
    search_fields = ("=user_id", "key_hash")
    date_hierarchy = "revoked_at"

    @admin.display(description="token hash")
    def key_hash_prefix(self, obj):
        return obj.key_hash[:12] + "…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a row would bring a revoked token back after the next sync


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ("title", "is_active", "starts_at", "ends_at", "sort_order", "updated_at")
    list_filter = ("is_active",)
    list_editable = ("is_active", "sort_order")
    search_fields = ("title", "body")
    readonly_fields = ("created_at", "updated_at")
    ordering = ("sort_order", "-starts_at", "id")
    actions = [confirmed("usercenter.rebuild_home", "Rebuild the home document now…", name="rebuild_home_now")]

    # Every edit schedules ONE debounced rebuild of the home document (not a rebuild per save,
    # and never a DB read per request).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.announcement_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        services.announcement_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        services.announcement_changed()


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "nickname", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "nickname")
    readonly_fields = ("user", "updated_at")
    fields = ("user", "nickname", "avatar", "bio", "updated_at")

    def has_add_permission(self, request):
        return False  # every user gets a profile at registration

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "avatar":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Through the service, so the cached hash shows the edit at once.
        services.profile_update(user_id=obj.user_id, **{k: form.cleaned_data[k] for k in form.changed_data})


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    """Read-only: balances change only through ledger entries (services.wallet_credit)."""

    list_display = ("user", "balance_cents", "points", "version", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "balance_cents", "points", "version", "updated_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Append-only: no edits, no deletes."""

    list_display = ("created_at", "user", "kind", "amount_cents", "points", "reference", "memo")
    list_filter = ("kind", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "=reference")
    date_hierarchy = "created_at"
    show_full_result_count = False  # a COUNT(*) over millions of rows on every page is not free
    readonly_fields = ("user", "kind", "amount_cents", "points", "reference", "memo", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
