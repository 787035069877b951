from django.apps import AppConfig

# Sales starting within the preload window get their stock in Redis from this beat task.
FLASH_OPEN_BEAT_SECONDS = 5.0


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        from orders import controlroom, services
        from project.celery import add_beat

        services.register_queues()
        add_beat("orders-flash-open-due", "orders.tasks.flash_open_due", FLASH_OPEN_BEAT_SECONDS)
        controlroom.register()
