"""What the red-packet queue drain costs per row, measured in one process against the real stores
(no HTTP, no Locust): batches of grab events go through the drain's handler
(`redpackets.services.grab_record_batch`: Grab rows, ledger rows, wallets, and after commit the
users' cached hashes), and the CPU of each party is read around them.

    python -m loadtest.drainbench                    # 12 batches of 500 rows
    python -m loadtest.drainbench --batches 20 --batch 250

Prints, per row: the drain's own CPU (this process: Python, psycopg2, redis-py), its PostgreSQL
backend's CPU and Redis's CPU, and the rows/s one core would drain at that cost. Every user has a
cached hash, as after a storm of signed-in users, so the after-commit refresh does its full work.
Exit code 1 when the drain did not write one Grab row and one ledger credit per event.
The box should be otherwise idle; compare runs made minutes apart with care (shared VM).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import psutil

from loadtest.stack import add_store_arguments, in_process_stack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.drainbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batches", type=int, default=12, help="measured batches (one warm-up batch more)")
    p.add_argument("--batch", type=int, default=500, help="rows per batch (QUEUE_BATCH_SIZE)")
    add_store_arguments(p)
    args = p.parse_args(argv)
    with in_process_stack("drain", args) as stack:
        return _measure(args, stack)


def _measure(args, stack) -> int:
    from django.db import connections

    from loadtest.seed import create_users
    from redpackets import services as rp
    from redpackets.models import Campaign
    from usercenter import services as uc

    users = create_users(args.batch)
    user_ids = [u["id"] for u in users]
    owner = user_ids[0]
    now = datetime.now(UTC)
    with connections["default"].cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(c.fetchone()[0])
    redis = [psutil.Process(pid) for pid in stack.redis_pids()]

    def cpu(procs) -> float:
        return sum(sum(pr.cpu_times()[:2]) for pr in procs)

    samples: list[tuple[float, float, float]] = []
    for i in range(args.batches + 1):
        campaign = Campaign.objects.create(
            title=f"drainbench {i}",
            total_cents=args.batch * 100,
            count=args.batch,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            status=Campaign.Status.OPEN,
            owner_id=owner,
        )
        # Every user has a cached hash: the refresh after commit writes into it.
        cached = {"grabs_count": 0, "grabs_total_cents": 0, "balance_cents": 0}
        uc.user_hash_write_many(writes=[{"user_id": u, "fields": cached, "mode": "fill"} for u in user_ids])
        at = int(time.time() * 1000)
        events = [{"packet": campaign.pk, "user": u, "amount": 100, "at": at} for u in user_ids]
        mine, pg, rd = time.process_time(), cpu([backend]), cpu(redis)
        rp.grab_record_batch(f"drainbench:{i}", events)
        sample = (time.process_time() - mine, cpu([backend]) - pg, cpu(redis) - rd)
        if i:  # the first batch warms caches and prepared plans
            samples.append(sample)
    # A fast wrong drain is no result: every event is one Grab row and one ledger credit.
    from redpackets.models import Grab
    from usercenter.models import LedgerEntry

    expected = args.batch * (args.batches + 1)
    written = (Grab.objects.count(), LedgerEntry.objects.filter(kind=rp.GRAB_KIND).count())
    if written != (expected, expected):
        print(f"drain wrote {written[0]} grab rows and {written[1]} ledger entries for {expected} events")
        return 1
    n = args.batch
    rows = n * len(samples)  # sums, not medians: the CPU clocks tick in 10 ms steps
    own, db, red = (sum(s[k] for s in samples) * 1e6 / rows for k in range(3))
    total = own + db + red
    print(f"drain, {args.batches} batches of {n} rows (per row):")
    print(f"  drain process {own:6.1f} us   PostgreSQL {db:6.1f} us   Redis {red:6.1f} us   all {total:6.1f} us")
    print(f"  one core drains {1e6 / total:,.0f} rows/s at this cost (drain process alone: {1e6 / own:,.0f})")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
