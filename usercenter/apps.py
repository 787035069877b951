from django.apps import AppConfig

# How often beat re-publishes the revoked-token list (the longest a revocation made while Redis
# was unreachable can be missed by processes reading the Redis copy).
REVOCATIONS_SYNC_BEAT_SECONDS = 10


class UsercenterConfig(AppConfig):
    name = "usercenter"
    verbose_name = "User center"

    def ready(self):
        from django.core import checks

        from project.celery import add_beat
        from usercenter import auth, controlroom, registry, selectors
        from usercenter.checks import check_field_groups

        # The hash's own group; other apps register theirs in their ready().
        registry.register_field_group(
            "account", fields=selectors.ACCOUNT_FIELDS, load=selectors.account_fields, app="usercenter"
        )
        checks.register(check_field_groups)
        auth.connect_signals()
        add_beat("usercenter-revocations-sync", "usercenter.tasks.revocations_sync", REVOCATIONS_SYNC_BEAT_SECONDS)
        controlroom.register()
