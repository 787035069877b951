from django.apps import AppConfig


class UsercenterConfig(AppConfig):
    name = "usercenter"
    verbose_name = "User center"

    def ready(self):
        from usercenter import auth

        auth.connect_signals()
