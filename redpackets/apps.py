from django.apps import AppConfig


class RedpacketsConfig(AppConfig):
    name = "redpackets"
