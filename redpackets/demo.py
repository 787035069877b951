"""Demo data: a red packet open for days (¥10,000.00 in 500 shares) and an upcoming one."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from project.redis import RedisUnavailable
from redpackets import services
from redpackets.models import Campaign

OPEN_TITLE = "Launch week: ¥10,000 for everyone"
UPCOMING_TITLE = "Midnight drop: ¥888 in 88 shares"


def _ensure(*, title: str, total: int, count: int, starts_in: timedelta, lasts: timedelta, owner_id, split: str):
    """The campaign with this title that is still to come or running, created when there is none."""
    now = timezone.now()
    campaign = Campaign.objects.filter(title=title, ends_at__gt=now).exclude(status=Campaign.Status.CLOSED).first()
    created = campaign is None
    if created:
        campaign = services.campaign_create(
            title=title,
            total_cents=total,
            count=count,
            starts_at=now + starts_in,
            ends_at=now + starts_in + lasts,
            split_method=split,
            owner_id=owner_id,
        )
    # Loaded into Redis (again, when Redis was flushed since the last seed): idempotent.
    services.campaign_open(campaign_id=campaign.pk)
    return campaign, created


def seed(*, stdout) -> None:
    owner_id = get_user_model().objects.filter(username="admin").values_list("pk", flat=True).first()
    try:
        live, new_live = _ensure(
            title=OPEN_TITLE,
            total=10_000_00,
            count=500,
            starts_in=timedelta(hours=-1),
            lasts=timedelta(days=3),
            owner_id=owner_id,
            split="double_average",
        )
        upcoming, new_upcoming = _ensure(
            title=UPCOMING_TITLE,
            total=888_00,
            count=88,
            starts_in=timedelta(hours=2),
            lasts=timedelta(hours=1),
            owner_id=owner_id,
            split="line_cut",
        )
    except RedisUnavailable:
        stdout.write("  red packets: Redis unavailable, campaigns not loaded (run `manage.py redpackets open <id>`)")
        return
    stdout.write(
        f"  red packets: #{live.pk} open{' (new)' if new_live else ''}, "
        f"#{upcoming.pk} upcoming{' (new)' if new_upcoming else ''}"
    )
