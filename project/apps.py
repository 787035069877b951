from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "project"
    verbose_name = "Surge kernel"

    def ready(self):
        from project.controlroom import actions

        actions.register_kernel_actions()
