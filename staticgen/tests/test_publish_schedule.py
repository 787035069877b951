"""The debounced republish: `publish_schedule` collects targets and enqueues one task per
window; the task publishes just those (with a real worker, after a product edit)."""

import time

import pytest

from orders import services as order_services
from orders.tests.factories import make_product
from project.redis import get_redis
from staticgen import services
from staticgen.models import PublishRun


def broker_messages() -> int:
    return get_redis().llen("celery")


@pytest.mark.django_db
def test_a_burst_of_changes_enqueues_one_task_with_every_target(catalog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_schedule(["test/items/1.json"])
        services.publish_schedule(["test/items/2.json", "test/page.html"])
        services.publish_schedule(["test/items/1.json"])

    assert services.pending_targets() == ["test/items/1.json", "test/items/2.json", "test/page.html"]
    assert broker_messages() == 1


@pytest.mark.django_db
def test_nothing_is_scheduled_before_commit(catalog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.publish_schedule(["test/page.html"])

    assert services.pending_targets() == [] and broker_messages() == 0
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_pending_publish_writes_only_the_scheduled_files(catalog, cdn_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_schedule(["test/items/2.json"])

    result = services.publish_pending()

    assert result.written == ["test/items/2.json"]
    assert [p.relative_to(cdn_root).as_posix() for p in cdn_root.rglob("*.json") if p.name != "_manifest.json"] == [
        "test/items/2.json"
    ]
    assert services.pending_targets() == []
    assert PublishRun.objects.get(pk=result.run_id).trigger == PublishRun.Trigger.TASK
    # a change after the task started schedules a new task (the debounce key is gone)
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_schedule(["test/page.html"])
    assert broker_messages() == 2


@pytest.mark.django_db
def test_a_failed_pending_publish_keeps_its_targets(catalog, django_capture_on_commit_callbacks, monkeypatch):
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_schedule(["test/items/1.json"])
    get_redis().set(services.LOCK_KEY, "another-publisher", ex=30)
    original = services.publish
    monkeypatch.setattr(services, "publish", lambda **kw: original(**{**kw, "lock_wait_seconds": 0.1}))

    with pytest.raises(services.PublishBusy):
        services.publish_pending()

    assert services.pending_targets() == ["test/items/1.json"]


def wait_for(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


def read(path):
    return path.read_text() if path.exists() else ""


@pytest.mark.worker
def test_product_edit_republishes_its_files_through_the_worker_within_the_debounce_window(celery_worker, cdn_root):
    window = services.debounce_seconds()
    product = make_product(name="Before")  # post_save schedules its first publish
    json_file, html_file = cdn_root / f"products/{product.pk}.json", cdn_root / f"products/{product.pk}.html"
    wait_for(lambda: '"Before"' in read(json_file), timeout=window + 15)

    # a burst of admin edits (save + the admin's product_changed)
    for name in ("Middle", "Almost", "After"):
        product.name = name
        product.save()
        order_services.product_changed(product_id=product.pk)
    elapsed = wait_for(lambda: '"After"' in read(json_file) and ">After<" in read(html_file), timeout=window + 10)

    assert elapsed >= window - 0.5  # debounced: not before the window
    assert elapsed < window + 8
    wait_for(lambda: PublishRun.objects.filter(trigger="task", status="ok").count() == 2, timeout=5)
    runs = list(PublishRun.objects.filter(trigger="task").order_by("id"))
    # one run for the creation, ONE for the three edits, each with just this product's files
    assert len(runs) == 2
    assert f"products/{product.pk}.json" in runs[1].targets.splitlines()
    assert runs[1].written >= 2 and runs[1].failed == 0


@pytest.mark.django_db
def test_a_finished_home_rebuild_task_schedules_home_json(django_capture_on_commit_callbacks):
    from celery.signals import task_postrun

    from usercenter.tasks import home_rebuild_task

    task_postrun.send(sender=home_rebuild_task, task_id="t1", task=home_rebuild_task, state="FAILURE")
    assert services.pending_targets() == []

    with django_capture_on_commit_callbacks(execute=True):
        task_postrun.send(sender=home_rebuild_task, task_id="t2", task=home_rebuild_task, state="SUCCESS")
    assert services.pending_targets() == ["home.json"]
    assert broker_messages() == 1
