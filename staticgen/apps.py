from django.apps import AppConfig

# Safety net for the debounced republish: a task lost with its worker leaves its targets in the
# pending set; this drains them (an empty set costs one Redis command).
PENDING_SWEEP_SECONDS = 60
# A full publish now and then catches what no change signals: an upcoming campaign whose start
# time passed (its page must go). Unchanged files are skipped by hash, so a run costs renders only.
FULL_PUBLISH_SECONDS = 300


class StaticgenConfig(AppConfig):
    name = "staticgen"
    verbose_name = "Static generation (CDN)"

    def ready(self):
        # Every app registers what it publishes in `<app>/publish.py`.
        from django.utils.module_loading import autodiscover_modules

        from project.celery import add_beat

        autodiscover_modules("publish")
        add_beat("staticgen-pending", "staticgen.tasks.publish_pending", PENDING_SWEEP_SECONDS)
        add_beat("staticgen-full", "staticgen.tasks.publish_all", FULL_PUBLISH_SECONDS, kwargs={"trigger": "task"})
