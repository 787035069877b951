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
        from orders import controlroom, selectors, services
        from project.celery import add_beat
        from usercenter import registry

        registry.register_field_group(
            "orders",
            fields=("orders_count",),
            load=selectors.user_center_fields,
            app="orders",
            clear=("orders page 1", lambda user_id: services.order_list_forget(user_ids=[user_id])),
        )
        registry.register_home_section("products", load=selectors.hot_products)
        services.register_queues()
        add_beat("orders-flash-open-due", "orders.tasks.flash_open_due", FLASH_OPEN_BEAT_SECONDS)
        add_beat("orders-flash-reconcile", "orders.tasks.reconcile_flash", FLASH_RECONCILE_BEAT_SECONDS)
        controlroom.register()
