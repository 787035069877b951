"""What one request costs the web process, measured in one process without HTTP: the WSGI
application is called directly (production settings, the real stores), and the process's own
CPU time is read around each batch of calls.

    python -m loadtest.inproc                 # 3 rounds of 3,000 calls per variant
    python -m loadtest.inproc --calls 1000 --rounds 5

Variants, each the best of the rounds, in microseconds of this process's CPU per call:
- `bare`, `bare-auth`: the bench's bare views (anonymous; bearer token, POST);
- `bare-redis`: bare-auth plus one EVALSHA of a one-line script (no keys) on the hot
  connection: the floor of any view that asks Redis once;
- `grab`: the red-packet grab (one EVALSHA; the events are left in the queue, no drain runs);
- `grab, Redis answers by constant`: the same request with the script call replaced by its
  answer, so the difference to `grab` is what the one round trip costs inside a request;
- `EVALSHA alone` and `PING alone`: the same call in a tight loop on the hot connection;
- `bare-auth + PING`: the bare view and one PING per call, which shows that a round trip
  costs the process more after Django's request path than in a tight loop.

Redis's own CPU and the HTTP server are not counted (see `python -m loadtest.bench` and
`python -m loadtest.pairs` for the whole box under load). Exit code 1 when a grab did not
answer 200/410 or a bare view not 200. Run it on an otherwise idle box.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from loadtest.stack import add_store_arguments, in_process_stack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.inproc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--calls", type=int, default=3000, help="calls per variant and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds (the best is reported)")
    p.add_argument("--users", type=int, default=200, help="bench users (each grabs each packet once)")
    add_store_arguments(p)
    args = p.parse_args(argv)

    with in_process_stack("inproc", args):
        return _measure(args)


def _measure(args) -> int:
    from django.core.wsgi import get_wsgi_application

    from loadtest.seed import create_users, warm_auth_caches
    from project import queued_sale
    from project.redis import hot_command, hot_script, load_script
    from redpackets import keys
    from redpackets import services as rp

    app = get_wsgi_application()
    users = create_users(args.users)
    warm_auth_caches(users)
    owner = users[0]["id"]
    statuses: dict[str, set[int]] = {}

    def environ(path: str, method: str, token: str | None) -> dict:
        env = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
            "HTTP_HOST": "127.0.0.1", "CONTENT_LENGTH": "0", "REMOTE_ADDR": "127.0.0.1",
        }  # fmt: skip
        if token:
            env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return env

    def calls(name: str, requests: list[tuple[str, str, str | None]], extra=None) -> float:
        """CPU microseconds per call of this process (environ built before the clock starts)."""
        envs = [environ(*r) for r in requests]
        seen = statuses.setdefault(name, set())

        def start_response(status, headers, exc_info=None):
            seen.add(int(status.split(" ", 1)[0]))

        started = time.process_time()
        for env in envs:
            body = app(env, start_response)
            b"".join(body)
            body.close()
            if extra:
                extra()
        return (time.process_time() - started) / len(envs) * 1e6

    def packets(n_calls: int) -> list[int]:
        """Open packets with one share per user, enough for n_calls grabs."""
        now = datetime.now(UTC)
        return [
            rp.campaign_create(
                title=f"inproc {i}", total_cents=len(users) * 100, count=len(users), owner_id=owner,
                starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1), open=True,
            ).pk
            for i in range(-(-n_calls // len(users)))
        ]  # fmt: skip

    def grabs(n_calls: int) -> list[tuple[str, str, str | None]]:
        return [(f"/api/redpackets/{cid}/grab/", "POST", u["token"]) for cid in packets(n_calls) for u in users][
            :n_calls
        ]

    n = args.calls
    tokens = [users[i % len(users)]["token"] for i in range(n)]
    bare = [("/api/bench/bare/", "GET", None)] * n
    bare_auth = [("/api/bench/bare-auth/", "POST", t) for t in tokens]
    bare_redis = [("/api/bench/bare-redis/", "POST", t) for t in tokens]
    script = load_script(rp.GRAB_SCRIPT)
    real = queued_sale.hot_script_replicated  # the grab reaches Redis through the sale kernel
    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    def constant(_script, keys, args):
        return [0, 100, 0], True

    def ping():
        hot_command("PING")

    for _round in range(args.rounds):
        add("bare", calls("bare", bare))
        add("bare-auth", calls("bare-auth", bare_auth))
        add("bare-redis", calls("bare-redis", bare_redis))
        add("grab", calls("grab", grabs(n)))
        queued_sale.hot_script_replicated = constant
        try:
            add("grab, Redis answers by constant", calls("grab-constant", grabs(n)))
        finally:
            queued_sale.hot_script_replicated = real
        add("bare-auth + PING", calls("bare-auth", bare_auth, extra=ping))
        grab_calls = [(cid, u["id"]) for cid in packets(n) for u in users][:n]
        started = time.process_time()
        for cid, uid in grab_calls:
            hot_script(
                script,
                keys=keys.grab_keys(cid, uid),
                args=[uid, int(time.time() * 1000), cid, rp.GRAB_RATE_LIMIT, rp.GRAB_RATE_WINDOW_MS],
            )
        add("EVALSHA alone", (time.process_time() - started) / n * 1e6)
        started = time.process_time()
        for _ in range(n):
            hot_command("PING")
        add("PING alone", (time.process_time() - started) / n * 1e6)

    print(f"web process CPU per call, best of {args.rounds} rounds of {n} (us):")
    for name, values in results.items():
        print(f"  {name:33s} {min(values):7.1f}   (rounds: {', '.join(f'{v:.0f}' for v in values)})")
    best = {k: min(v) for k, v in results.items()}
    print(
        f"  the grab's round trip inside a request: {best['grab'] - best['grab, Redis answers by constant']:.0f} us; "
        f"alone: {best['EVALSHA alone']:.0f} us"
    )
    print(
        f"  the grab over the one-round-trip view (bare-redis): {best['grab'] - best['bare-redis']:.0f} us; "
        f"bare-redis over bare-auth: {best['bare-redis'] - best['bare-auth']:.0f} us"
    )
    print(
        f"  a PING after the bare view: {best['bare-auth + PING'] - best['bare-auth']:.0f} us; "
        f"alone: {best['PING alone']:.0f} us"
    )
    wrong = {k: sorted(v) for k, v in statuses.items() if not v <= ({200, 410} if k.startswith("grab") else {200})}
    if wrong:
        print(f"unexpected answers: {wrong}")
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
