from django.apps import AppConfig


class StaticgenConfig(AppConfig):
    name = "staticgen"
