from django.conf import settings
from django.db import models
from django.utils import timezone


class SignIn(models.Model):
    """One row per user per site-day. UNIQUE(user, date) is what makes "one reward per day" hold
    under any number of parallel clicks: the losing INSERT does nothing instead of paying twice."""

    # signin_user_date_unique leads with user: no second index on it to write per sign-in.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signins", db_index=False)
    # The day in settings.TIME_ZONE (the site's day), not the UTC date of created_at.
    date = models.DateField()
    # Consecutive days ending on `date` (1 = no sign-in the day before).
    streak = models.PositiveIntegerField(default=1)
    points_awarded = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # False while Redis has not been told about this row (Redis was down); the repair task
    # sets the bit later and flips this back. A partial index keeps that lookup free.
    cache_synced = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "date"], name="signin_user_date_unique")]
        indexes = [
            models.Index(fields=["date"], name="signin_date"),
            models.Index(fields=["id"], name="signin_cache_unsynced", condition=models.Q(cache_synced=False)),
        ]
        ordering = ["-date", "-id"]
        verbose_name = "sign-in"

    def __str__(self):
        return f"user {self.user_id} signed in on {self.date} (streak {self.streak})"
