"""Apps plug into the user center in their ready(): their field groups of the user hash, what
they cache per user, the home document's product list."""

import pytest
from django.core.management import call_command

from project.redis import get_redis
from usercenter import registry, selectors, services
from usercenter.checks import check_field_groups
from usercenter.keys import user_hash_key

pytestmark = pytest.mark.django_db


def test_every_app_registered_its_group_at_start_up():
    assert {g.name: g.app for g in registry.field_groups()} == {
        "account": "usercenter",
        "signin": "signin",
        "orders": "orders",
        "grabs": "redpackets",
    }
    assert registry.field_group("orders").fields == ("orders_count",)
    assert check_field_groups() == []
    call_command("check")  # the system check runs clean


def test_an_unknown_group_fails_loudly_not_as_a_zero(user):
    with pytest.raises(registry.UnknownFieldGroup):
        services.user_fields_invalidate(user_id=user.pk, group="ordrs")


def test_a_field_owned_by_another_group_is_refused():
    with pytest.raises(registry.RegistryError):
        registry.register_field_group("mine", fields=("orders_count",), load=lambda *, user_id: {})
    assert "mine" not in {g.name for g in registry.field_groups()}


def test_a_field_me_shows_without_a_group_fails_the_system_check():
    grabs = registry.field_group("grabs")
    registry.unregister_field_group("grabs")
    try:
        errors = check_field_groups()
    finally:
        registry.register_field_group(grabs.name, fields=grabs.fields, load=grabs.load, app=grabs.app)
    assert {e.id for e in errors} == {"usercenter.E001"}
    assert any("grabs_count" in e.msg for e in errors)


def test_invalidating_a_group_drops_just_its_fields(user):
    selectors.me_get(user_id=user.pk)  # fills the hash
    services.user_fields_invalidate(user_id=user.pk, group="grabs")
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert b"grabs_count" not in cached and b"grabs_total_cents" not in cached
    assert b"orders_count" in cached and b"username" in cached
    assert selectors.me_get(user_id=user.pk)["grabs_count"] == 0  # refilled by its loader
    assert get_redis().hexists(user_hash_key(user.pk), "grabs_count")


def test_user_cache_clear_asks_every_app_that_caches_per_user(user):
    dropped = services.user_cache_clear(user_id=user.pk)
    assert "orders page 1" in dropped and "sign-in state" in dropped


def test_the_home_products_come_from_the_orders_section():
    assert "products" in registry.home_sections()
    assert selectors.home_document_fresh()["products"] == []
