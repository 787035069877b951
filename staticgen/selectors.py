"""Reads for the command, the admin and the pages."""

from __future__ import annotations

from staticgen import registry
from staticgen.models import PublishRun


def last_run() -> PublishRun | None:
    return PublishRun.objects.order_by("-started_at", "-id").first()


def last_successful_run() -> PublishRun | None:
    return PublishRun.objects.filter(status=PublishRun.Status.OK).order_by("-started_at", "-id").first()


def output_rows(*, with_paths: bool = False) -> list[dict]:
    """One row per registered output: name, app, type, cache-control, how many files (and which)."""
    rows = []
    for output in registry.outputs():
        row = {
            "name": output.name,
            "app": output.app,
            "content_type": output.content_type,
            "cache_control": output.cache_control,
        }
        try:
            paths = [p for p, _ in output.all_paths()]
            row["count"] = len(paths)
            if with_paths:
                row["paths"] = paths
        except Exception as exc:  # noqa: BLE001  an app's key listing may fail any way; the row shows it
            row["count"] = None
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows
