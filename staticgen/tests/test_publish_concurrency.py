"""Two publishers at once (the admin button and a deploy hook): the Redis lock serializes them,
so the manifest ends consistent and no file is written twice for the same content."""

import json
import threading

import pytest
from django.db import connections

from staticgen import services
from staticgen.models import PublishRun
from staticgen.storage import MANIFEST


@pytest.mark.django_db(transaction=True)
def test_parallel_publishes_take_turns_and_leave_a_consistent_manifest(catalog, cdn_root):
    slow_render = catalog.render_item
    in_render = threading.Event()

    def render(item_id):
        in_render.set()
        threading.Event().wait(0.05)  # long enough for the other publisher to collide with us
        return slow_render(item_id)

    catalog.render_item = render
    catalog.unregister()
    catalog.register()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(services.publish(targets=["test/*"], lock_wait_seconds=10))
        except Exception as exc:  # noqa: BLE001  collected, and asserted empty below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(len(r.written) for r in results) == [0, 5]
    assert sorted(r.unchanged for r in results) == [0, 5]
    files = json.loads((cdn_root / MANIFEST).read_text())["files"]
    assert len(files) == 5


@pytest.mark.django_db
def test_publish_gives_up_when_another_holds_the_lock_too_long(catalog):
    from project.redis import get_redis

    get_redis().set(services.LOCK_KEY, "other", ex=30)

    with pytest.raises(services.PublishBusy):
        services.publish(targets=["test/*"], lock_wait_seconds=0.2)
    assert not PublishRun.objects.exists()  # waiting is not a failed run
