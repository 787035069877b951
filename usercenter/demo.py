"""Demo data of the user center: nicknames, a welcome credit, two announcements (idempotent)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.utils import timezone

from project.redis import RedisUnavailable
from usercenter import services
from usercenter.models import Announcement

DEMO_PROFILES = {
    "admin": {"nickname": "The Operator", "bio": "Keeps the caches warm."},
    "demo": {"nickname": "Demo Dan", "bio": "Here for the flash sales."},
    "alice": {"nickname": "Alice ⚡", "bio": "Never misses a red-packet drop."},
    "bob": {"nickname": "Bob", "bio": ""},
}
# username -> welcome credit in cents (once: the reference makes a rerun a no-op)
DEMO_CREDITS = {"demo": 5000, "alice": 8800, "bob": 1200}
DEMO_ANNOUNCEMENTS = [
    ("Midnight flash sale", "Twenty phones at half price, tonight at 00:00. One per customer.", 0),
    ("Sign in every day", "Seven days in a row earn 40 points a day. Do not break the streak!", 1),
]


def seed(*, stdout) -> None:
    users = dict(get_user_model().objects.filter(username__in=DEMO_PROFILES).values_list("username", "pk"))
    for username, fields in DEMO_PROFILES.items():
        if username in users:
            services.profile_update(user_id=users[username], **fields)
    credited = 0
    for username, cents in DEMO_CREDITS.items():
        if username in users:
            credited += services.wallet_credit(
                user_id=users[username],
                kind="adjustment",
                reference=f"demo:welcome:{username}",
                amount_cents=cents,
                memo="welcome credit (demo)",
            )
    now = timezone.now()
    created = 0
    for title, body, order in DEMO_ANNOUNCEMENTS:
        _, new = Announcement.objects.get_or_create(
            title=title,
            defaults={"body": body, "sort_order": order, "starts_at": now - dt.timedelta(hours=1), "is_active": True},
        )
        created += new
    try:
        services.home_rebuild()
    except RedisUnavailable:
        stdout.write("  home document not rebuilt: Redis unavailable (it is built on the first read)")
    stdout.write(
        f"  user center: nicknames for {len(users)} users, {credited} welcome credits, {created} announcements created"
    )
