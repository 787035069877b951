from django.apps import AppConfig

# How often beat re-publishes the revoked-token list (the longest a revocation made while Redis
# was unreachable can be missed by processes reading the Redis copy).
REVOCATIONS_SYNC_BEAT_SECONDS = 10


class UsercenterConfig(AppConfig):
    name = "usercenter"
    verbose_name = "User center"

    def ready(self):
        from project.celery import add_beat
        from usercenter import auth, controlroom

        auth.connect_signals()
        add_beat("usercenter-revocations-sync", "usercenter.tasks.revocations_sync", REVOCATIONS_SYNC_BEAT_SECONDS)
        controlroom.register()
