from django.apps import AppConfig
from django.conf import settings


class SigninConfig(AppConfig):
    name = "signin"
    verbose_name = "Daily sign-in"

    def ready(self):
        from project.celery import add_beat
        from signin import selectors, services
        from usercenter import registry

        registry.register_field_group(
            "signin",
            fields=("streak", "signed_today"),
            load=selectors.user_center_fields,
            app="signin",
            clear=("sign-in state", lambda user_id: services.signin_cache_forget(user_id=user_id)),
        )

        # Cheap when there is nothing to do: one lookup on a partial index of unsynced rows.
        add_beat("signin-repair-cache", "signin.tasks.repair_cache", settings.SIGNIN_REPAIR_SECONDS)
