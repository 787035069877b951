"""Runs last in the demo seed: publish everything the other apps registered."""

import importlib
import logging

from project.redis import RedisUnavailable
from staticgen import services
from staticgen.models import PublishRun
from staticgen.storage import CdnWriter

logger = logging.getLogger(__name__)


def _rebuild_home_document(stdout) -> None:
    """home.json is the cached /api/home/ document, which the user center cached before the other
    apps seeded their products: rebuild it first so the CDN does not get an empty hot list."""
    try:
        rebuild = importlib.import_module("usercenter.services").home_rebuild
    except (ImportError, AttributeError):
        return
    try:
        rebuild()
    except RedisUnavailable:
        stdout.write("  home document not rebuilt (Redis unavailable); home.json may be stale")


def seed(*, stdout):
    _rebuild_home_document(stdout)
    writer = CdnWriter()
    result = services.publish(trigger=PublishRun.Trigger.DEMO)
    stdout.write(f"  published to {writer.description}: {result.summary()}")
    for path, why in sorted(result.failed.items()):
        stdout.write(f"  FAILED {path}: {why}")
