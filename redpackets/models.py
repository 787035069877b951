from django.conf import settings
from django.db import models
from django.utils import timezone

from redpackets import splitting


class Campaign(models.Model):
    """A red packet: `total_cents` split into `count` shares, grabbable between starts_at and
    ends_at. The shares are split once (at creation) and kept here, so Redis can always be
    reloaded from the database; what was grabbed lives in `Grab`."""

    class Split(models.TextChoices):
        DOUBLE_AVERAGE = splitting.DOUBLE_AVERAGE, "Double average"
        LINE_CUT = splitting.LINE_CUT, "Line cutting"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"  # loaded in Redis; grabbable inside its window
        CLOSED = "closed", "Closed"  # no more grabs; the remainder went back to the owner

    title = models.CharField(max_length=120)
    total_cents = models.BigIntegerField()
    count = models.PositiveIntegerField()
    split_method = models.CharField(max_length=20, choices=Split.choices, default=Split.DOUBLE_AVERAGE)
    shares = models.JSONField(default=list, editable=False, help_text="The pre-split shares (shuffled).")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)  # campaign_status_ends
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Gets the ungrabbed remainder back when the campaign closes.",
    )
    refunded_cents = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1), name="campaign_count_positive"),
            models.CheckConstraint(
                condition=models.Q(total_cents__gte=models.F("count")), name="campaign_cent_per_share"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="campaign_window_ordered"
            ),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="campaign_status_ends")]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    def state(self, now=None) -> str:
        """What users see: draft, upcoming, live, ended (waiting to be closed) or closed."""
        now = now or timezone.now()
        if self.status == self.Status.CLOSED:
            return "closed"
        if self.status == self.Status.DRAFT:
            return "draft"
        if now < self.starts_at:
            return "upcoming"
        if now >= self.ends_at:
            return "ended"
        return "live"


class Grab(models.Model):
    """One user's share of one campaign, written by the queue drain (never in the request)."""

    # No single-column indexes on the two keys: grab_one_per_user leads with campaign and
    # grab_user_recent with user, and each extra index is one more write per drained grab.
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="grabs", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redpacket_grabs", db_index=False
    )
    amount_cents = models.BigIntegerField()
    grabbed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-grabbed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="grab_one_per_user")]
        indexes = [models.Index(fields=["user", "-grabbed_at"], name="grab_user_recent")]

    def __str__(self):
        return f"{self.user_id} got {self.amount_cents} from campaign {self.campaign_id}"
