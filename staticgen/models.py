from django.db import models
from django.utils import timezone


class PublishRun(models.Model):
    """One publish (full, `--only`, or the debounced task): what it did and how it ended."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        COMMAND = "command", "manage.py"
        TASK = "task", "Change (task)"
        ADMIN = "admin", "Admin"
        DEMO = "demo", "Demo seed"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.COMMAND)
    targets = models.TextField(blank=True, help_text="Patterns or paths; empty means everything.")
    backend = models.CharField(max_length=200, blank=True)
    written = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    bytes_written = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at"], name="publishrun_newest")]

    def __str__(self):
        return f"publish #{self.pk} {self.status} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 2)
