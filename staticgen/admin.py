from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path, reverse

from staticgen import selectors, services, tasks
from staticgen.models import PublishRun


@admin.register(PublishRun)
class PublishRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "started_at",
        "status",
        "trigger",
        "written",
        "unchanged",
        "deleted",
        "failed",
        "bytes_written",
        "seconds",
        "short_targets",
    )
    list_filter = ("status", "trigger")
    search_fields = ("targets", "error")
    readonly_fields = [f.name for f in PublishRun._meta.fields] + ["seconds"]
    date_hierarchy = "started_at"
    actions = ["publish_now", "publish_same_targets"]
    change_list_template = "admin/staticgen/publishrun/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="targets")
    def short_targets(self, obj):
        return (obj.targets.replace("\n", ", ")[:60]) or "everything"

    def get_urls(self):
        return [
            path(
                "publish-now/",
                self.admin_site.admin_view(self.publish_now_view),
                name="staticgen_publishrun_publish_now",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "last_run": selectors.last_run(),
            "last_ok": selectors.last_successful_run(),
            "pending": services.pending_targets(),
            "publish_now_url": reverse("admin:staticgen_publishrun_publish_now"),
        }
        return super().changelist_view(request, extra_context=extra_context)

    def _enqueue_full(self, request):
        transaction.on_commit(lambda: tasks.publish_all.delay(PublishRun.Trigger.ADMIN), using="default")
        self.message_user(request, "Full publish queued; a worker runs it now (refresh to see the result).")

    def publish_now_view(self, request):
        if request.method != "POST":
            return redirect("admin:staticgen_publishrun_changelist")
        if not self.has_view_permission(request):
            self.message_user(request, "Not allowed.", messages.ERROR)
        else:
            self._enqueue_full(request)
        return redirect("admin:staticgen_publishrun_changelist")

    @admin.action(description="Publish everything now")
    def publish_now(self, request, queryset):
        self._enqueue_full(request)

    @admin.action(description="Publish the selected runs' targets again")
    def publish_same_targets(self, request, queryset):
        targets = {t for run in queryset for t in run.targets.splitlines() if t}
        if not targets:
            return self._enqueue_full(request)
        services.publish_schedule(sorted(targets))
        self.message_user(request, f"Republish of {len(targets)} target(s) scheduled.")
