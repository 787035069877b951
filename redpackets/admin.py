from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html

from project.controlroom.admin_actions import confirmed
from redpackets import selectors, services
from redpackets.models import Campaign, Grab


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ("title", "total_cents", "count", "split_method", "starts_at", "ends_at", "owner")

    def clean(self):
        data = super().clean()
        total, count = data.get("total_cents"), data.get("count")
        if total is not None and count is not None and total < count:
            raise forms.ValidationError("The total must be at least one cent per share.")
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            raise forms.ValidationError("The end must be after the start.")
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("id", "title", "state_pill", "total_cents", "count", "progress", "starts_at", "ends_at", "owner")
    list_filter = ("status", "split_method", "starts_at")
    search_fields = ("=id", "title", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("status", "created_at", "opened_at", "closed_at", "refunded_cents", "progress_detail")
    ordering = ("-starts_at", "-id")
    actions = [
        confirmed("redpackets.open", "Open (load into Redis)…", name="open_campaigns"),
        confirmed("redpackets.close", "Close and refund the rest to the owner…", name="close_campaigns"),
        confirmed("redpackets.reconcile", "Reconcile Redis with the database (and fix)…", name="reconcile_campaigns"),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The shares were split from these at creation; changing them would not re-split.
            fields += ["total_cents", "count", "split_method"]
            if obj.status == Campaign.Status.CLOSED:
                fields += ["starts_at", "ends_at", "owner"]
        return fields

    def get_queryset(self, request):
        # Persisted count per row in the same query (no N+1); the Redis part is one pipelined
        # round trip per row.
        return super().get_queryset(request).annotate(persisted_n=Count("grabs"))

    @admin.display(description="state")
    def state_pill(self, obj):
        state = obj.state()
        cls = {"live": "#1b6b61", "upcoming": "#8a5a00", "closed": "#888", "ended": "#b3122a"}.get(state, "#555")
        return format_html('<b style="color:{}">{}</b>', cls, state)

    @admin.display(description="grabbed / persisted / remaining")
    def progress(self, obj):
        live = selectors.live_numbers(campaign_ids=[obj.pk])[obj.pk]
        persisted = getattr(obj, "persisted_n", None)
        if live is None:
            return f"– / {persisted} / –"
        return f"{live['grabbed_count']} / {persisted} / {live['remaining_count']}"

    @admin.display(description="progress")
    def progress_detail(self, obj):
        if obj.pk is None:
            return "-"
        s = selectors.campaign_status(campaign_id=obj.pk)
        return format_html(
            "grabbed (Redis): {} · persisted: {} ({} cents) · shares left: {} ({} cents) · queued: {} · in flight: {}",
            s["grabbed_count"],
            s["persisted_count"],
            s["persisted_cents"],
            s["remaining_count"],
            s["remaining_cents"],
            s["queue_depth"],
            s["in_flight"],
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            services.campaign_window_changed(campaign_id=obj.pk)
            return
        created = services.campaign_create(
            title=obj.title,
            total_cents=obj.total_cents,
            count=obj.count,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            split_method=obj.split_method,
            owner_id=obj.owner_id,
        )
        obj.pk = created.pk
        obj.shares = created.shares
        self.message_user(request, "Created as a draft: use the action “Open” to load it for grabbing.")


@admin.register(Grab)
class GrabAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "user", "amount_cents", "grabbed_at", "recorded_at")
    list_filter = ("grabbed_at",)
    search_fields = ("=campaign__id", "user__username")
    list_select_related = ("campaign", "user")
    raw_id_fields = ("campaign", "user")
    readonly_fields = ("campaign", "user", "amount_cents", "grabbed_at", "recorded_at")
    ordering = ("-grabbed_at", "-id")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # grabs come from the queue drain only
