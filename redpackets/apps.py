from django.apps import AppConfig

# Campaigns past their end are closed (and refunded) within this many seconds.
EXPIRE_BEAT_SECONDS = 10.0
# Open campaigns Redis lost (an empty restart, a failover) are reloaded within this long.
RELOAD_BEAT_SECONDS = 5.0
# Redis and the database are compared this often (grabs lost on the way are re-queued).
RECONCILE_BEAT_SECONDS = 60.0


class RedpacketsConfig(AppConfig):
    name = "redpackets"
    verbose_name = "Red packets"

    def ready(self):
        from project.celery import add_beat
        from redpackets import controlroom, selectors, services
        from usercenter import registry

        registry.register_field_group(
            "grabs", fields=("grabs_count", "grabs_total_cents"), load=selectors.user_center_fields, app="redpackets"
        )
        services.register_queues()
        add_beat("redpackets-expire-due", "redpackets.tasks.expire_due", EXPIRE_BEAT_SECONDS)
        add_beat("redpackets-reload-missing", "redpackets.tasks.reload_missing", RELOAD_BEAT_SECONDS)
        add_beat("redpackets-reconcile", "redpackets.tasks.reconcile_active", RECONCILE_BEAT_SECONDS)
        controlroom.register()
