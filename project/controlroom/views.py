"""The control room page, its JSON, and the confirmation step every action goes through (from
the page and from the admin change lists). Staff only: wrapped in the admin site's view."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from project.controlroom import actions, registry, snapshot
from project.controlroom.registry import ActionError

MAX_TARGETS = 200  # a change list selection sent to one confirmation


def page(request):
    context = {
        **admin.site.each_context(request),
        "title": "Control room",
        "refresh_seconds": snapshot.refresh_seconds(),
        "global_actions": registry.actions(""),
        "user_actions": registry.actions("user"),
    }
    return TemplateResponse(request, "admin/controlroom/page.html", context)


@never_cache
def data(request):
    return JsonResponse(snapshot.snapshot())


def _next_url(request, raw: str) -> str:
    if raw and url_has_allowed_host_and_scheme(raw, allowed_hosts={request.get_host()}):
        return raw
    return reverse("controlroom")


def _targets(raw: str) -> list[str]:
    return [t.strip() for t in raw.split(",") if t.strip()][:MAX_TARGETS]


def confirm(request):
    params = request.POST if request.method == "POST" else request.GET
    action = registry.get_action(params.get("action", ""))
    targets = _targets(params.get("targets", "") or params.get("target", ""))
    next_url = _next_url(request, params.get("next", ""))
    if action is None:
        return HttpResponseBadRequest("Unknown action.")
    if action.kind == "" and not targets:
        targets = ["-"]  # an action on the whole site (the home document) has no target
    if not targets:
        messages.warning(request, f"{action.label}: nothing selected.")
        return redirect(next_url)
    if not actions.allowed(request.user, action):
        messages.error(request, f"{action.label}: you may not run this action.")
        return redirect(next_url)
    if request.method == "POST":
        try:
            done, already = actions.perform(
                user=request.user, action_name=action.name, targets=targets, nonce=params.get("nonce", "")
            )
        except ActionError as exc:
            messages.error(request, str(exc))
            return redirect(next_url)
        if already:
            messages.info(request, f"{action.label}: already done with this confirmation; not run again.")
        for line in done:
            messages.success(request, f"{action.label}: {line}")
        return redirect(next_url)
    items = []
    for target in targets:
        try:
            preview = action.preview(target) if action.preview else []
            items.append({"target": target, "describe": action.describe(target), "preview": preview})
        except ActionError as exc:
            items.append({"target": target, "describe": str(exc), "preview": [], "error": True})
    context = {
        **admin.site.each_context(request),
        "title": f"{action.label}: are you sure?",
        "action": action,
        "items": items,
        "targets": ",".join(targets),
        "nonce": actions.new_nonce(),
        "next": next_url,
    }
    return TemplateResponse(request, "admin/controlroom/confirm.html", context)


def confirm_url(action_name: str, targets, next_url: str = "") -> str:
    """Where a change-list action sends the admin: the confirmation of `action_name`."""
    from urllib.parse import urlencode

    query = {"action": action_name, "targets": ",".join(str(t) for t in targets)}
    if next_url:
        query["next"] = next_url
    return f"{reverse('controlroom-confirm')}?{urlencode(query)}"
