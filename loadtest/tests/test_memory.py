"""The Redis memory measurement on the real test Redis: the product's own calls make the keys of a
few users, one campaign and one flash sale, and every kind weighs something."""

from __future__ import annotations

from loadtest import memory

USER_KINDS = ("auth user cache", "user hash (/api/me/)", "sign-in bitmap + streak", "orders page 1", "session")


def test_bytes_per_user_campaign_and_sale_from_memory_usage(transactional_db):
    # transactional_db: the sign-in writes its bitmap after commit, as in production.
    doc = memory.measure(users=3, orders_per_user=2, stdout=lambda *_: None)
    kinds = doc["per_user_kinds"]
    for kind in USER_KINDS:
        assert kinds.get(kind, 0) > 0, (kind, kinds)
    assert doc["per_user_bytes"] == round(sum(kinds.values()), 1)
    assert doc["campaign_open_bytes"] > 0 and doc["campaign_grabbed_bytes"] > 0
    assert doc["sale_open_bytes"] > 0 and doc["sale_bought_bytes"] > 0
    assert doc["per_campaign_bytes"] == max(doc["campaign_open_bytes"], doc["campaign_grabbed_bytes"])
    # Every grab and buy queued an event: queues are transient, not a campaign's or a sale's.
    assert doc["transient_bytes"] > 0
