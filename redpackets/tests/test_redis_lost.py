"""Redis down for a minute under a running worker and beat, then back with no data (the dev
Redis keeps nothing on disk; a failover to a replica that was behind loses data too): nothing
needs a person. The worker rides it out and drains again, the open red packet and flash sale are
served again within seconds (a grab meanwhile answers 503 with Retry-After, never 404), nobody
grabs twice, nothing persisted is paid twice, and exactly the accepted grabs that were still
queued when Redis lost its data are missing."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db.models import Count, Sum

from orders import services as order_services
from orders.models import Order
from orders.tests.factories import make_flash_product
from project import testing
from project.redis import RedisUnavailable, get_redis
from redpackets import keys, services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers
from usercenter.models import LedgerEntry, Wallet

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 60
BACK_WITHIN_SECONDS = 15  # beat reloads every 5 s; a grab asks for a reload at once


def _until(predicate, timeout: float, what: str):
    return testing.wait_until(predicate, timeout, what)


def _serving_again(campaign_id: int, user_id: int) -> tuple[float, set[int]]:
    """Seconds until a new user's grab answers 200, and every status seen until then."""
    started, seen = time.monotonic(), set()
    while time.monotonic() - started < BACK_WITHIN_SECONDS * 2:
        try:
            result = services.grab(user_id=user_id, campaign_id=campaign_id)
        except RedisUnavailable:
            seen.add(-1)
        else:
            seen.add(result.status)
            if result.status == 200:
                return time.monotonic() - started, seen
            if result.status == 503:
                assert result.headers and "Retry-After" in result.headers
        time.sleep(0.2)
    raise AssertionError(f"the red packet was not served again: {seen}")


def test_redis_down_a_minute_then_back_empty_recovers_without_a_person(devstack, celery_worker_factory, tmp_path):
    campaign = make_campaign(total=5000, count=50)
    product = make_flash_product(stock=20, limit=1)
    order_services.flash_open(product_id=product.pk)
    users = [uid for uid, _t in make_grabbers(20, "outage")]
    worker = celery_worker_factory("w1")
    beat = testing.BeatProcess(tmp_path)
    try:
        # Before: grabs and buys drained by the worker on beat's ticks.
        won = {uid: services.grab(user_id=uid, campaign_id=campaign.pk) for uid in users[:10]}
        assert {r.status for r in won.values()} == {200}
        for uid in users[:5]:
            order_services.flash_buy(user_id=uid, product_id=product.pk)
        _until(lambda: Grab.objects.filter(campaign=campaign).count() == 10, 30, "grabs drained")
        _until(lambda: Order.objects.filter(product=product).count() == 5, 30, "orders drained")
        # Three more grabs accepted while the worker is paused: still queued when Redis loses
        # its data, so these are the ones an empty restart loses.
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        for uid in users[10:13]:
            assert services.grab(user_id=uid, campaign_id=campaign.pk).status == 200
        assert get_redis().llen(keys.queue(campaign.pk)) == 3

        devstack.stop("redis")
        os.killpg(worker.proc.pid, signal.SIGCONT)
        with pytest.raises(RedisUnavailable):
            services.grab(user_id=users[15], campaign_id=campaign.pk)
        time.sleep(OUTAGE_SECONDS)
        assert worker.proc.poll() is None, worker.log.read_text()[-3000:]
        assert beat.proc.poll() is None, beat.log.read_text()[-3000:]
        devstack.start("redis")  # empty: the dev Redis keeps nothing on disk
        assert not get_redis().exists(keys.meta(campaign.pk))

        # Served again within seconds, 503 meanwhile, never 404.
        took, seen = _serving_again(campaign.pk, users[15])
        assert took < BACK_WITHIN_SECONDS and 404 not in seen, (took, seen)
        token = _until(lambda: _try_buy(users[15], product.pk), BACK_WITHIN_SECONDS, "the flash sale is served again")
        assert token
        # Whoever's grab or buy was persisted cannot do it again; the three lost grabs' users can.
        assert {services.grab(user_id=uid, campaign_id=campaign.pk).status for uid in users[:10]} == {409}
        with pytest.raises(order_services.FlashLimitReached):
            order_services.flash_buy(user_id=users[0], product_id=product.pk)
        assert {services.grab(user_id=uid, campaign_id=campaign.pk).status for uid in users[10:13]} == {200}

        # The worker drains again, by itself.
        _until(lambda: Grab.objects.filter(campaign=campaign).count() == 14, 30, "grabs drained after the outage")
        _until(lambda: Order.objects.filter(product=product).count() == 6, 30, "orders drained after the outage")
    finally:
        if worker.proc.poll() is None:
            os.killpg(worker.proc.pid, signal.SIGCONT)  # never leave it stopped for teardown
        beat.stop()

    # Nobody grabbed twice, nothing was paid twice, wallets equal their ledgers, and the
    # books close: Redis and the database agree again.
    per_user = Grab.objects.filter(campaign=campaign).values("user_id").annotate(n=Count("id"))
    assert {r["n"] for r in per_user} == {1}
    credits = LedgerEntry.objects.filter(kind="redpacket_grab", reference__startswith=f"rp:{campaign.pk}:")
    assert credits.count() == 14
    assert credits.aggregate(s=Sum("amount_cents"))["s"] == Grab.objects.aggregate(s=Sum("amount_cents"))["s"]
    for wallet in Wallet.objects.all():
        ledger = LedgerEntry.objects.filter(user_id=wallet.user_id).aggregate(s=Sum("amount_cents"))["s"] or 0
        assert wallet.balance_cents == ledger, wallet.user_id
    assert services.campaign_reconcile(campaign_id=campaign.pk)["ok"]
    assert order_services.flash_reconcile(product_id=product.pk)["ok"]


def _try_buy(user_id: int, product_id: int) -> str | None:
    try:
        return order_services.flash_buy(user_id=user_id, product_id=product_id)
    except order_services.FlashReloading:
        return None  # 503 "being loaded": a worker (or beat) reloads it within seconds
