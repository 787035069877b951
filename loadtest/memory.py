"""Redis bytes per user, per red-packet campaign and per flash sale, measured with `MEMORY USAGE`
on the real keys the product writes, for the capacity model (`python -m loadtest.capacity`
answers "how much Redis for 10 million users" from this file).

    python -m loadtest.memory                   # 1,000 users, writes loadtest/results/memory.json
    python -m loadtest.memory --users 500 --orders-per-user 5 --out /tmp/memory.json

On the dev stack's Redis (database 5, flushed) and a fresh `surge_bench` database, as the bench.
Every key is made by the product's own code: the auth user cache (`usercenter.auth.cached_user`),
the user hash (`usercenter.selectors.me_get`, the `/api/me/` fill), the sign-in bitmap and streak
(`signin.services.signin_perform`), a session (the session engine of the settings), page 1 of the
orders (`orders.selectors.order_first_page`, after `--orders-per-user` orders); one campaign
opened and grabbed by every user (`redpackets.services`), one flash product opened and bought by
every user (`orders.services`). The keys each step creates are its kind; queues and the Celery
broker's keys are transient (drained within a second) and reported apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "loadtest" / "results" / "memory.json"
TRANSIENT = ("queue", "celery", "_kombu", "unacked", ":rl:")


def _keys(client) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def _usage(client, keys) -> int:
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.memory_usage(k, samples=0)
    return sum(v or 0 for v in pipe.execute())


class Steps:
    """Runs product calls and attributes the Redis keys each one creates to a kind."""

    def __init__(self, client):
        self.client = client
        self.kinds: dict[str, set[bytes]] = {}
        self.seen = _keys(client)

    def run(self, kind: str, fn, *args, owner: int | None = None, **kw):
        """fn(*args, **kw); the keys it created are `kind`'s, or with `owner` (a user id) only
        those whose name holds that id: the rest are the shop's, made once ("shared")."""
        out = fn(*args, **kw)
        now = _keys(self.client)
        for k in now - self.seen:
            name = k.decode(errors="replace")
            if any(t in name for t in TRANSIENT):
                key_kind = "transient"
            elif owner is not None and str(owner) not in re.split(r"[^0-9]+", name):
                key_kind = "shared"
            else:
                key_kind = kind
            self.kinds.setdefault(key_kind, set()).add(k)
        self.seen = now
        return out

    def bytes(self, kind: str) -> int:
        return _usage(self.client, self.kinds.get(kind, ()))


def measure(*, users: int = 200, orders_per_user: int = 3, shares: int | None = None, stdout=print) -> dict:
    """In the current Django settings (a test or bench database and Redis database): create the
    keys, return bytes per kind. Needs an empty Redis database to attribute keys."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import get_hashers
    from django.utils import timezone

    from orders import selectors as order_sel
    from orders import services as order_svc
    from project.redis import get_redis
    from redpackets import services as rp
    from signin import services as signin
    from usercenter import auth
    from usercenter import selectors as uc_sel
    from usercenter import services as uc

    client = get_redis()
    started = time.monotonic()
    # Throwaway accounts: their password hash is no part of Redis.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    now = timezone.now()
    stamp = int(time.time())
    ids = [uc.user_register(username=f"mem{stamp}-{i}", password="x" * 12).pk for i in range(users)]
    product = _plain_product(users * orders_per_user + 1)
    steps = Steps(client)
    session_engine = __import__(settings.SESSION_ENGINE, fromlist=["SessionStore"])
    user_model = get_user_model()
    for uid in ids:
        auth.clear_local()
        steps.run("auth user cache", auth.cached_user, uid, owner=uid)
        steps.run("user hash (/api/me/)", uc_sel.me_get, user_id=uid, owner=uid)
        steps.run("sign-in bitmap + streak", signin.signin_perform, user_id=uid, owner=uid)
        for j in range(orders_per_user):
            steps.run("orders page 1", order_svc.order_create, user_id=uid, product_id=product, quantity=1,
                      idempotency_key=f"memory-{uid}-{j}", owner=uid)  # fmt: skip
        steps.run("orders page 1", order_sel.order_first_page, user_id=uid, owner=uid)
        user = user_model.objects.get(pk=uid)
        steps.run("session", _session, session_engine.SessionStore, user)
    per_user_kinds = {
        k: steps.bytes(k) / users for k in sorted(steps.kinds) if k not in ("transient", "shared")
    }  # fmt: skip
    # One campaign with a share for every user, opened, then grabbed by all of them.
    shares = shares or users
    campaign = steps.run(
        "campaign",
        rp.campaign_create,
        title="memory",
        total_cents=shares * 100,
        count=shares,
        starts_at=now - dt.timedelta(minutes=1),
        ends_at=now + dt.timedelta(hours=1),
        open=True,
    )
    campaign_open = steps.bytes("campaign")
    for uid in ids:
        steps.run("campaign", rp.grab, user_id=uid, campaign_id=campaign.pk)
    campaign_grabbed = steps.bytes("campaign")
    # One flash product with a unit for every user, opened, then bought by all of them.
    sale = steps.run(
        "flash sale",
        order_svc.flash_create,
        name="memory: flash",
        price_cents=100,
        stock=users,
        starts_at=now - dt.timedelta(minutes=1),
        ends_at=now + dt.timedelta(hours=1),
        per_user_limit=1,
        open=True,
    )
    pid = sale["product"].pk
    sale_open = steps.bytes("flash sale")
    for uid in ids:
        steps.run("flash sale", order_svc.flash_buy, user_id=uid, product_id=pid)
    sale_bought = steps.bytes("flash sale")
    transient = steps.bytes("transient")
    info = client.info("memory")
    doc = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "redis_version": client.info("server")["redis_version"],
        "users": users,
        "orders_per_user": orders_per_user,
        "per_user_kinds": {k: round(v, 1) for k, v in per_user_kinds.items()},
        "per_user_bytes": round(sum(per_user_kinds.values()), 1),
        "campaign_shares": shares,
        "campaign_open_bytes": campaign_open,
        "campaign_grabbed_bytes": campaign_grabbed,
        "per_campaign_bytes": max(campaign_open, campaign_grabbed),
        "sale_units": users,
        "sale_open_bytes": sale_open,
        "sale_bought_bytes": sale_bought,
        "per_sale_bytes": max(sale_open, sale_bought),
        "transient_bytes": transient,
        "mem_fragmentation_ratio": info.get("mem_fragmentation_ratio"),
        "elapsed_s": round(time.monotonic() - started, 1),
        "note": "per campaign: a campaign of `campaign_shares` shares, all grabbed; per sale: `sale_units` "
        "units, all bought; transient: queues, rate-limit keys and the broker's, drained within seconds",
    }
    stdout(
        f"memory: {doc['per_user_bytes']:,.0f} B per user ("
        + ", ".join(f"{k} {v:,.0f}" for k, v in doc["per_user_kinds"].items())
        + f"); campaign of {shares} shares {campaign_open:,} B open, {campaign_grabbed:,} B grabbed; "
        f"flash sale of {users} units {sale_open:,} B open, {sale_bought:,} B bought; transient {transient:,} B"
    )
    return doc


def _plain_product(stock: int) -> int:
    from orders.models import Product

    return Product.objects.create(name="memory: plain product", price_cents=100, stock=stock).pk


def _session(store_cls, user) -> str:
    """A logged-in session as django.contrib.auth.login stores it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    s = store_cls()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    return s.session_key


def main(argv: list[str] | None = None) -> int:
    from loadtest.stack import add_store_arguments, in_process_stack

    p = argparse.ArgumentParser(prog="python -m loadtest.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    # Past 128 fields a hash leaves Redis's compact encoding (ziplist or listpack): a campaign
    # grabbed by 200 users weighs 8 B a grab, by 1,000 users 93 B. Sample past that limit.
    p.add_argument("--users", type=int, default=1000, help="sample users (default 1000; also the shares and units)")
    p.add_argument("--orders-per-user", type=int, default=3, help="orders each sample user has (page 1's size)")
    p.add_argument("--out", default=str(OUT), help="the JSON the capacity model reads")
    add_store_arguments(p)
    args = p.parse_args(argv)
    with in_process_stack("memory", args):
        doc = measure(users=args.users, orders_per_user=args.orders_per_user)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"memory: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
