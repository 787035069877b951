"""The restore drill on a real Patroni cluster with pgBackRest: `manage.py backup` verifies the
archive, lists the backups and restores to a moment between two sets of grabs; the restored
database has the rows committed before that moment and none after; then `redpackets reconcile
--fix` re-queues what Redis still knows and a worker on the restored database drains it, paying
nobody twice. Skipped, with the reason, without etcd/Patroni/pgBackRest."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from orders import keys as order_keys
from orders import services as order_services
from orders.models import Order, Product
from orders.tests.factories import make_flash_product
from project import testing
from project.tests.test_patroni_failover import wallets_equal_ledgers
from redpackets import keys, services
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers
from redpackets.tests.test_grab_storm import assert_persisted_exactly

pytestmark = [pytest.mark.patroni, pytest.mark.worker, pytest.mark.timeout(150)]


def grab_all(campaign, users) -> dict[int, int]:
    won = {}
    for uid, _token in users:
        result = services.grab(user_id=uid, campaign_id=campaign.pk)
        assert result.status == 200, result.body
        won[uid] = result.body["amount_cents"]
    return won


def buy_all(product, users) -> dict[str, int]:
    return {order_services.flash_buy(user_id=uid, product_id=product.pk): uid for uid, _token in users}


def drained(campaign, expected: int, product=None, orders: int = 0) -> None:
    testing.wait_for_drain(
        keys.queue(campaign.pk), lambda: Grab.objects.filter(campaign=campaign).count(), expected, timeout=40
    )
    if product is not None:
        testing.wait_for_drain(
            order_keys.flash_queue(product.pk), lambda: Order.objects.filter(product=product).count(), orders, 40
        )


def test_point_in_time_restore_then_reconcile_brings_redis_and_the_database_together(on_patroni, celery_worker_factory):
    cluster = on_patroni
    cluster.wait_healthy()
    campaign = make_campaign(total=60 * 100, count=60)
    users = make_grabbers(60, "rs")
    product = make_flash_product(stock=50, limit=1)
    order_services.flash_open(product_id=product.pk)
    worker = celery_worker_factory("rs", **cluster.app_env())

    # given: 30 grabs and 20 flash orders persisted before the target time, as many after
    won_before = grab_all(campaign, users[:30])
    bought_before = buy_all(product, users[:20])
    drained(campaign, 30, product, 20)
    with connection.cursor() as cur:
        cur.execute("SELECT now()")  # the database's clock is the one WAL records
        target = cur.fetchone()[0]
    time.sleep(1.0)
    won_after = grab_all(campaign, users[30:])
    bought_after = buy_all(product, users[20:40])
    drained(campaign, 60, product, 40)
    worker.stop()

    # when: the archive is checked (a WAL switch pushes the last segment), listed, restored to then
    verify = cluster.manage("backup", "verify")
    assert "ok" in verify.stdout
    listing = cluster.manage("backup", "list")
    assert " full " in listing.stdout, listing.stdout
    restored = cluster.dir / "patroni" / "restored" / "data"
    started = time.monotonic()
    res = cluster.manage("backup", "restore", "--pg-path", str(restored), "--to", target.isoformat())
    assert "restored into" in res.stdout
    port = cluster.base + 26
    cluster.start_restored(restored, port)
    restore_seconds = time.monotonic() - started
    print(f"restore to {target.isoformat()} and promotion: {restore_seconds:.1f}s")
    refused = cluster.manage("backup", "restore", "--pg-path", str(restored), check=False)
    assert refused.returncode == 2  # a non-empty directory without --delta

    url = f"postgres://postgres@127.0.0.1:{port}/surge"
    try:
        with cluster.use(url):
            # then: rows before the target are there, rows after are not
            rows = dict(Grab.objects.filter(campaign=campaign).values_list("user_id", "amount_cents"))
            assert rows == won_before
            assert dict(Order.objects.filter(product=product).values_list("token", "user_id")) == bought_before
            assert Product.objects.get(pk=product.pk).stock == 50 - 20
            report = services.campaign_reconcile(campaign_id=campaign.pk)
            assert report["missing"] == sorted(won_after)
            assert order_services.flash_reconcile(product_id=product.pk)["orders_lost_by_restore"] == sorted(
                bought_after
            )
            wallets_equal_ledgers(list(won_before) + list(won_after))

            # and reconcile re-queues what Redis knows; a worker on the restored database drains it
            on_restored = {"DATABASE_URL": url, "DATABASE_REPLICA_URL": url}
            cluster.manage("redpackets", "reconcile", str(campaign.pk), "--fix", **on_restored)
            cluster.manage("orders", "reconcile-flash", str(product.pk), "--fix", **on_restored)
            celery_worker_factory("restored", **{**cluster.app_env(), **on_restored})
            drained(campaign, 60, product, 40)
            assert_persisted_exactly(campaign, {**won_before, **won_after})
            wallets_equal_ledgers(list(won_before) + list(won_after))
            orders = dict(Order.objects.filter(product=product).values_list("token", "user_id"))
            assert orders == {**bought_before, **bought_after}  # every accepted buy once
            assert Product.objects.get(pk=product.pk).stock == 50 - 40
            cluster.manage("redpackets", "reconcile", str(campaign.pk), **on_restored)  # exit 0: consistent
            flash = cluster.manage("orders", "reconcile-flash", str(product.pk), **on_restored)
            assert "consistent" in flash.stdout
    finally:
        cluster.stop_restored(restored)
