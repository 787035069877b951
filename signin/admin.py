from django.contrib import admin, messages

from project.redis import RedisUnavailable
from signin import services
from signin.models import SignIn


@admin.register(SignIn)
class SignInAdmin(admin.ModelAdmin):
    list_display = ("user", "date", "streak", "points_awarded", "created_at", "cache_synced")
    list_filter = (("date", admin.DateFieldListFilter), "cache_synced", "streak")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    date_hierarchy = "date"
    ordering = ("-date", "-id")
    readonly_fields = ("user", "date", "streak", "points_awarded", "created_at", "cache_synced")
    actions = ("rebuild_cache",)
    show_full_result_count = False  # a COUNT(*) over millions of rows on every page is not worth it

    def has_add_permission(self, request):
        return False  # sign-ins come with a ledger entry; only the service writes them

    @admin.action(description="Rebuild the Redis calendar of the selected sign-ins' users and months")
    def rebuild_cache(self, request, queryset):
        pairs = {(row.user_id, row.date.year, row.date.month) for row in queryset.only("user_id", "date")}
        months: dict[tuple[int, int], list[int]] = {}
        for uid, year, month in pairs:
            months.setdefault((year, month), []).append(uid)
        try:
            users = sum(
                services.signin_cache_rebuild(year=y, month=m, user_ids=uids) for (y, m), uids in months.items()
            )
        except RedisUnavailable:
            self.message_user(request, "Redis is unavailable; nothing rebuilt.", messages.ERROR)
            return
        self.message_user(request, f"Rebuilt {users} user-month calendar(s).", messages.SUCCESS)
