"""Admin: the last publish and its result on the changelist; "Publish now" queues a full publish."""

import pytest

from project.redis import get_redis
from staticgen import services

pytestmark = pytest.mark.django_db


def test_changelist_shows_the_last_publish_and_its_result(admin_client, catalog):
    catalog.fail.add(3)
    services.publish(targets=["test/*"])

    html = admin_client.get("/admin/staticgen/publishrun/").content.decode()

    assert 'data-testid="last-publish"' in html
    assert "<strong>Failed</strong>" in html
    assert "written 4, unchanged 0, deleted 0" in html
    assert "boom 3" in html
    assert 'data-testid="publish-now"' in html


def test_changelist_with_no_runs_says_so(admin_client):
    assert "Nothing published yet." in admin_client.get("/admin/staticgen/publishrun/").content.decode()


def test_publish_now_queues_a_full_publish(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/staticgen/publishrun/publish-now/", follow=True)

    assert response.status_code == 200
    assert "Full publish queued" in response.content.decode()
    assert get_redis().llen("celery") == 1
    assert b"staticgen.tasks.publish_all" in get_redis().lindex("celery", 0)


def test_publish_now_action_queues_a_full_publish(admin_client, catalog, django_capture_on_commit_callbacks):
    run_id = services.publish(targets=["test/page.html"]).run_id
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/staticgen/publishrun/", {"action": "publish_now", "_selected_action": [run_id]}, follow=True
        )
    assert b"staticgen.tasks.publish_all" in get_redis().lindex("celery", 0)


def test_anonymous_cannot_publish(client):
    response = client.post("/admin/staticgen/publishrun/publish-now/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert get_redis().llen("celery") == 0
