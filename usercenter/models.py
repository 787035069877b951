from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token for API clients. Only the SHA-256 of the token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"token {self.key_hash[:8]}… for user {self.user_id}"


class RevokedToken(models.Model):
    """A bearer token revoked before it expired (logout, deleted token or user, deactivated
    user). Written in the transaction that deletes the token, so it is never lost; Redis holds
    the copy every request checks (see usercenter.auth). Rows go when the token would have
    expired anyway."""

    key_hash = models.CharField(max_length=64, unique=True)
    user_id = models.BigIntegerField(db_index=True)  # no foreign key: the user may be deleted
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-revoked_at"]

    def __str__(self):
        return f"revoked token {self.key_hash[:8]}… of user {self.user_id}"


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    nickname = models.CharField(max_length=40, blank=True, default="")
    avatar = models.URLField(max_length=300, blank=True, default="")
    bio = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.nickname or f"profile of user {self.user_id}"


class Wallet(models.Model):
    """Balance and points. Changed only through usercenter.services (ledger first, then here).

    `version` grows with every change, so cache refreshes that arrive out of order never put
    an older balance over a newer one.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    balance_cents = models.BigIntegerField(default=0)
    points = models.BigIntegerField(default=0)
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(balance_cents__gte=0), name="wallet_balance_not_negative"),
            models.CheckConstraint(condition=models.Q(points__gte=0), name="wallet_points_not_negative"),
        ]

    def __str__(self):
        return f"wallet of user {self.user_id}: {self.balance_cents} cents, {self.points} points"


class LedgerEntry(models.Model):
    """Append-only. UNIQUE(kind, reference): a replayed credit (a retried message, a requeued
    batch) is a no-op instead of a second payment."""

    class Kind(models.TextChoices):
        REDPACKET_GRAB = "redpacket_grab", "Red packet grab"
        REDPACKET_REFUND = "redpacket_refund", "Red packet refund"
        SIGNIN_REWARD = "signin_reward", "Sign-in reward"
        ORDER = "order", "Order"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    # ledger_user_recent leads with user: no second index on it to write per credit.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    amount_cents = models.BigIntegerField(default=0)
    points = models.BigIntegerField(default=0)
    reference = models.CharField(max_length=100)
    memo = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "reference"], name="ledger_kind_reference_unique")]
        indexes = [models.Index(fields=["user", "-created_at"], name="ledger_user_recent")]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"

    def __str__(self):
        return f"{self.kind} {self.reference}: {self.amount_cents} cents, {self.points} points"


class Announcement(models.Model):
    """A notice on the home page. Shown while is_active and inside [starts_at, ends_at)."""

    title = models.CharField(max_length=120)
    body = models.TextField(blank=True, default="")
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: shown at once.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: shown until switched off.")
    sort_order = models.IntegerField(default=0, help_text="Lower comes first.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "-starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="announcement_window_ordered",
            )
        ]

    def __str__(self):
        return self.title
