"""The queued-sale kernel on its own: a made-up sale kind with keys of its own."""

import pytest

from project.queue import ReliableQueue
from project.queued_sale import QueuedSale
from project.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)


class Keys:
    ACTIVE = "qs:active"

    def queue(self, sale_id: int) -> str:
        return f"qs:{{{sale_id}}}:queue"

    def meta(self, sale_id: int) -> str:
        return f"qs:{{{sale_id}}}:meta"

    def reload_lock(self, sale_id: int) -> str:
        return f"qs:{{{sale_id}}}:reload"


def make_sale(**kw) -> QueuedSale:
    return QueuedSale(family="qs-test", time_field="at", keys=Keys(), event_id=lambda event: event["id"] or None, **kw)


def test_the_family_prefix_is_what_its_queue_keys_start_with():
    assert make_sale().prefix == "qs:{"


def test_only_queues_with_work_are_listed_unless_idle_ones_are_asked_for():
    sale = make_sale()
    sale.watch(1)
    sale.watch(2)
    ReliableQueue(sale.queue_key(2)).push({"id": "a", "at": 0})
    assert sale.queue_keys() == [sale.queue_key(2)]
    assert make_sale(list_idle_queues=True).queue_keys() == [sale.queue_key(1), sale.queue_key(2)]


def test_queued_events_are_keyed_by_identity_and_malformed_ones_skipped():
    sale = make_sale()
    get_redis().rpush(sale.queue_key(3), b"not json", b"[1, 2]", b'{"id": ""}', b'{"n": 1}', b'{"id": "x", "n": 2}')
    assert sale.queued(3) == {"x": {"id": "x", "n": 2}}


def test_requeue_watches_the_sale_and_unwatch_keeps_a_sale_with_work():
    sale = make_sale()
    sale.requeue(4, [{"id": "y", "at": 0}])
    assert sale.active_ids() == [4] and not sale.quiet(4)
    sale.unwatch_drained([4])
    assert sale.active_ids() == [4]
    get_redis().delete(sale.queue_key(4))
    sale.unwatch_drained([4])
    assert sale.active_ids() == []


def test_missing_lists_the_sales_redis_does_not_hold():
    sale = make_sale()
    get_redis().set(sale.keys.meta(5), 1)
    assert sale.missing([5, 6]) == [6]
    assert sale.missing([]) == []


def test_reconcile_repairs_only_with_fix_and_a_plan():
    sale = make_sale()
    repaired = []

    def compare(sid):
        return {"sale": sid, "fixed": False}, ["plan"] if sid == 7 else None

    def repair(sid, plan, report):
        repaired.append((sid, plan))

    assert sale.reconcile(7, fix=False, compare=compare, repair=repair)["fixed"] is False
    assert sale.reconcile(8, fix=True, compare=compare, repair=repair)["fixed"] is False
    assert sale.reconcile(7, fix=True, compare=compare, repair=repair)["fixed"] is True
    assert repaired == [(7, ["plan"])]
