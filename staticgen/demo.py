"""Runs last in the demo seed: publish everything the other apps registered."""

from staticgen import services
from staticgen.models import PublishRun
from staticgen.storage import CdnWriter


def seed(*, stdout):
    writer = CdnWriter()
    result = services.publish(trigger=PublishRun.Trigger.DEMO)
    stdout.write(f"  published to {writer.description}: {result.summary()}")
    for path, why in sorted(result.failed.items()):
        stdout.write(f"  FAILED {path}: {why}")
