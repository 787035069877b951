"""What the red-packet app publishes to the CDN bucket (autodiscovered by staticgen):
`redpackets/{id}.html`, the live campaign page as an anonymous visitor sees it, for campaigns
that are open but not started yet (the spike lands on the CDN during the countdown, not on
Django). Once a campaign starts, the next publish deletes its file (the page is live data).

Keeping the files current is cache upkeep, not business logic: a Campaign save/delete schedules
a debounced republish of its page and of the sitemap after commit.
"""

from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from redpackets.models import Campaign
from staticgen import registry, rendering, services


def upcoming_campaign_ids() -> list[int]:
    return list(
        Campaign.objects.filter(status=Campaign.Status.OPEN, starts_at__gt=timezone.now())
        .order_by("id")
        .values_list("id", flat=True)
    )


def render_campaign_html(campaign_id: int) -> bytes | None:
    if campaign_id not in set(upcoming_campaign_ids()):
        return None  # started, closed or gone: its file is deleted
    return rendering.render_view(f"/redpackets/{campaign_id}/", html=True)


registry.register(
    "redpackets/{id}.html",
    keys=upcoming_campaign_ids,
    key_type=int,
    render=render_campaign_html,
    page=lambda campaign_id: f"/redpackets/{campaign_id}/",
    app="redpackets",
)


def _campaign_changed(sender, instance, **kwargs):
    services.publish_schedule([f"redpackets/{instance.pk}.html", "sitemap.xml"])


post_save.connect(_campaign_changed, sender=Campaign, dispatch_uid="staticgen-campaign-saved")
post_delete.connect(_campaign_changed, sender=Campaign, dispatch_uid="staticgen-campaign-deleted")
