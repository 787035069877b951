"""Admin change-list actions that go through the control room's confirmation: the selection is
shown with what will happen, the admin confirms once, and the run is logged and idempotent."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import redirect

from project.controlroom import registry, views


def confirmed(action_name: str, description: str, *, name: str):
    """A change-list action (called `name` in the admin) that sends the selection to the
    confirmation of the registered control-room action `action_name`."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        registered = registry.get_action(action_name)
        ids = [] if registered is not None and registered.kind == "" else queryset.values_list("pk", flat=True)
        return redirect(views.confirm_url(action_name, list(ids[: views.MAX_TARGETS]), request.get_full_path()))

    action.__name__ = name
    return action
