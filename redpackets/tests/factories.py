from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from redpackets import services
from usercenter import services as usercenter_services


def make_campaign(*, total=10_000, count=10, starts_in=-60, lasts=3600, open=True, owner=None, **kw):  # noqa: A002  `open` as the campaign admin calls it
    now = timezone.now()
    return services.campaign_create(
        title=kw.pop("title", "Test packet"),
        total_cents=total,
        count=count,
        starts_at=now + timedelta(seconds=starts_in),
        ends_at=now + timedelta(seconds=starts_in + lasts),
        owner_id=owner.pk if owner else None,
        open=open,
        **kw,
    )


def make_grabbers(n: int, prefix: str, token_for=None) -> list[tuple[int, str]]:
    """n users with bearer tokens (from the `token_for` fixture when given), fast: users are
    bulk inserted (the drain creates wallets as needed)."""
    user_model = get_user_model()
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"{prefix}{i}", password="!") for i in range(n)], batch_size=500
        )
        issue = token_for or (lambda u: usercenter_services.token_issue(user_id=u.pk, name="storm"))
        return [(u.pk, issue(u)) for u in users]
