from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "project"
    verbose_name = "Surge kernel"

    def ready(self):
        import functools

        from project import beat, db_router, metrics, queue
        from project.controlroom import actions

        actions.register_kernel_actions()
        metrics.register_scrape_source("queues", functools.partial(metrics.queue_depth_families, queue.depths))
        metrics.register_scrape_source("replica", functools.partial(metrics.replica_families, db_router.replica_status))
        metrics.register_scrape_source("beat", beat.lock_families)
