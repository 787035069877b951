"""The control room page and its JSON: staff only, a snapshot shared through Redis."""

import pytest

from project.controlroom import snapshot
from project.testing import CaptureAll

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_page_and_its_json_answer_staff_and_a_cached_refresh_costs_no_sql(admin_client):
    assert admin_client.get("/admin/controlroom/").status_code == 200
    first = admin_client.get("/admin/controlroom/data.json").json()
    assert {"health", "panels", "series", "alerts", "errors"} <= set(first)
    with CaptureAll() as q:
        again = admin_client.get("/admin/controlroom/data.json").json()
    assert again["built_at"] == first["built_at"] and q.count == 0
    assert snapshot.build()["health"]["stores"][0]["name"] == "primary"


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    res = client.get("/admin/controlroom/data.json")
    assert res.status_code == 302 and "/admin/login/" in res["Location"]
