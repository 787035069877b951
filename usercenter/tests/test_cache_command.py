import io

import pytest
from django.core.management import CommandError, call_command

from project.redis import get_redis
from usercenter import selectors, services
from usercenter.management.commands.cache import key_pattern
from usercenter.models import Announcement
from usercenter.services import user_hash_key

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("cache", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_rebuild_home_stores_a_fresh_document():
    selectors.home_document()
    Announcement.objects.create(title="from ops")
    out = run("rebuild-home")
    assert "home document rebuilt" in out and "1 announcements" in out
    selectors.home_cache.clear_local()
    assert selectors.home_document()["announcements"][0]["title"] == "from ops"


def test_stats_counts_keys_per_prefix_and_shows_hit_ratios_and_memory(client, user):
    selectors.me_get(user_id=user.pk)
    client.get("/api/home/")
    client.get("/api/home/")
    out = run("stats")
    assert "user:{*}" in out and "tlc:home:{*}" in out
    assert "home" in out and "L1 hit" in out and "L2 hit" in out
    assert "memory used" in out and "keyspace hits" in out


def test_key_patterns_group_keys_of_one_kind():
    assert key_pattern("user:{42}") == "user:{*}"
    assert key_pattern("c:1:auth:user:7") == "c:#:auth:user:#"
    assert key_pattern("signin:{3}:202611") == "signin:{*}:#"


def test_clear_user_drops_only_that_users_keys(user, make_user):
    bob = make_user("bob")
    selectors.me_get(user_id=user.pk)
    selectors.me_get(user_id=bob.pk)
    out = run("clear", "--user", str(user.pk))
    assert "dropped" in out
    assert not get_redis().exists(user_hash_key(user.pk))
    assert get_redis().exists(user_hash_key(bob.pk))
    # Refilled on the next read.
    assert selectors.me_get(user_id=user.pk)["username"] == "alice"


def test_clear_unknown_user_is_an_error():
    with pytest.raises(CommandError, match="no user"):
        run("clear", "--user", "999999")


def test_clear_needs_a_user_and_an_action_is_required():
    with pytest.raises(CommandError):
        run("clear")
    with pytest.raises(CommandError):
        run()


def test_user_cache_clear_reports_what_it_dropped(user):
    dropped = services.user_cache_clear(user_id=user.pk)
    assert any("user:{" in d for d in dropped) and "cached user row" in dropped
