from django.apps import AppConfig


class BaselinesConfig(AppConfig):
    name = "loadtest.baselines"
    label = "baselines"
    verbose_name = "Load-test baselines"
