from django.apps import AppConfig
from django.conf import settings


class SigninConfig(AppConfig):
    name = "signin"
    verbose_name = "Daily sign-in"

    def ready(self):
        from project.celery import add_beat

        # Cheap when there is nothing to do: one lookup on a partial index of unsynced rows.
        add_beat("signin-repair-cache", "signin.tasks.repair_cache", getattr(settings, "SIGNIN_REPAIR_SECONDS", 30))
