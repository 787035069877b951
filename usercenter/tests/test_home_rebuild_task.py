import time

import pytest

from project.redis import get_redis
from project.testing import CaptureAll
from usercenter import selectors, services
from usercenter.models import Announcement


def _add_announcement(client, title):
    res = client.post(
        "/admin/usercenter/announcement/add/",
        {"title": title, "body": "b", "sort_order": "0", "is_active": "on"},
    )
    assert res.status_code == 302, res.content.decode()[:2000]


def _rebuilds() -> int:
    return int(get_redis().hget(services.HOME_REBUILD_INFO_KEY, "count") or 0)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_several_admin_saves_in_the_window_cause_one_rebuild_by_a_real_worker(admin_client, celery_worker, settings):
    settings.HOME_REBUILD_DEBOUNCE_SECONDS = 2
    client = admin_client
    assert selectors.home_document()["announcements"] == []  # cached, before the edits
    local_rebuilds = selectors.home_cache.stats["rebuild"]

    for title in ("one", "two", "three"):
        _add_announcement(client, title)
    assert get_redis().exists(services.HOME_REBUILD_PENDING_KEY)

    deadline = time.monotonic() + 20
    while _rebuilds() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _rebuilds() == 1, celery_worker.log.read_text()[-3000:]
    time.sleep(2.5)  # a second, duplicate rebuild would have run by now
    assert _rebuilds() == 1
    assert not get_redis().exists(services.HOME_REBUILD_PENDING_KEY)

    # The worker stored the new document in Redis; this process never went to the database.
    selectors.home_cache.clear_local()
    with CaptureAll() as q:
        doc = selectors.home_document()
    assert q.count == 0
    assert sorted(a["title"] for a in doc["announcements"]) == ["one", "three", "two"]
    assert selectors.home_cache.stats["rebuild"] == local_rebuilds
    assert get_redis().hget(services.HOME_REBUILD_INFO_KEY, "by") == b"task"


@pytest.mark.django_db(transaction=True)
def test_a_save_after_the_window_schedules_another_rebuild(settings):
    settings.HOME_REBUILD_DEBOUNCE_SECONDS = 1
    services.home_rebuild_schedule()
    services.home_rebuild_schedule()
    # The pending key is what makes the second call a no-op; the task clears it first thing.
    assert get_redis().exists(services.HOME_REBUILD_PENDING_KEY)
    services.home_rebuild(scheduled=True)
    assert not get_redis().exists(services.HOME_REBUILD_PENDING_KEY)
    Announcement.objects.create(title="late")
    services.announcement_changed()
    assert get_redis().exists(services.HOME_REBUILD_PENDING_KEY)


@pytest.mark.django_db
def test_rebuild_now_replaces_a_fresh_cached_document():
    selectors.home_document()
    Announcement.objects.create(title="urgent")
    assert selectors.home_document()["announcements"] == []  # still the cached copy
    doc = services.home_rebuild()
    assert [a["title"] for a in doc["announcements"]] == ["urgent"]
    selectors.home_cache.clear_local()
    assert selectors.home_document() == doc
