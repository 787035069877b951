from django.apps import AppConfig

# Sales starting within the preload window get their stock in Redis from this beat task.
FLASH_OPEN_BEAT_SECONDS = 5.0
# Ended sales' Redis state and orders are compared this often (lost buys given back, orders a
# restore lost re-queued), as red packets do.
FLASH_RECONCILE_BEAT_SECONDS = 60.0


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        from orders import controlroom, services
        from project.celery import add_beat

        services.register_queues()
        add_beat("orders-flash-open-due", "orders.tasks.flash_open_due", FLASH_OPEN_BEAT_SECONDS)
        add_beat("orders-flash-reconcile", "orders.tasks.reconcile_flash", FLASH_RECONCILE_BEAT_SECONDS)
        controlroom.register()
