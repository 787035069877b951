"""Helpers for tests that start real processes (workers, consumers, servers) or threads on the test
stores."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_env(**extra) -> dict:
    """Environment for a child process (worker, server) that must use this test run's stores."""
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "project.settings_test"
    env["SURGE_TEST_DB_NAME"] = connection.settings_dict["NAME"]
    env["PYTHONUNBUFFERED"] = "1"
    env["SURGE_TEST_LOG_LEVEL"] = "INFO"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _celery(log: Path, args: list[str], env: dict) -> subprocess.Popen:
    """`celery -A project <args>` on the test stores, in its own session, output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", *args, "--loglevel=INFO"],
        cwd=ROOT,
        env=child_env(**env),
        stdout=open(log, "w"),  # noqa: SIM115 - the process outlives this call
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class WorkerProcess:
    def __init__(self, tmp_path: Path, name: str, *, options: tuple[str, ...] | None = None, **env):
        """`options` replace the default worker options (one pool child, no gossip or mingle)."""
        self.log = tmp_path / f"celery-{name}.log"
        if options is None:
            options = ("--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle")
        worker_args = [*options, "-n", f"{name}@%h"]
        self.proc = _celery(self.log, ["worker", *worker_args], env)
        try:
            self._wait_ready()
        except Exception:
            self.kill()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log.read_text()[-3000:]}")
            if "ready." in self.log.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole worker (parent and pool children) at once."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class BeatProcess:
    """A real Celery beat on the test stores (its schedule file in `tmp_path`)."""

    def __init__(self, tmp_path: Path, **env):
        self.log = tmp_path / "celery-beat.log"
        self.proc = _celery(self.log, ["beat", "--schedule", str(tmp_path / "celerybeat-schedule")], env)
        deadline = time.monotonic() + 30
        while "beat: Starting" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"celery beat did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def redis_server(args: list[str], log: Path, client, *, cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """A redis-server of a test's own (`args`: the binary and its options), yielded once `client`
    (a redis-py client for it) gets an answer to PING; woken (a test may have frozen it) and
    killed afterwards."""
    import redis

    def pings() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    with open(log, "w") as out:
        server = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(pings, 20, f"the test's own Redis answering (log: {log})")
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)
            server.kill()
            server.wait(timeout=10)


# Ports handed out lately: one may still look free only because its server has not bound it yet.
_ports_given: collections.deque[int] = collections.deque(maxlen=20)


def free_port(low: int = 20000, high: int = 25399) -> int:
    """A free loopback port in low..high, none of the last 20 handed out. The default range is
    below the ephemeral ports (outgoing connections take those) and below the dev stacks' blocks
    (25430 and up)."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(low, high)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            # As gunicorn, nginx and redis-server bind: a port whose old connections sit in
            # TIME_WAIT is free for them.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.append(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}-{high}")


class GunicornProcess:
    """A real gunicorn (sync workers, separate processes) serving the test database, for storms
    that must run truly in parallel over HTTP."""

    def __init__(self, tmp_path: Path, workers: int = 2, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "gunicorn.log"
        metrics_dir = tmp_path / "prometheus"
        metrics_dir.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "project.wsgi"],
            cwd=ROOT,
            env=child_env(
                GUNICORN_BIND=f"127.0.0.1:{self.port}",
                WEB_CONCURRENCY=workers,
                PROMETHEUS_MULTIPROC_DIR=metrics_dir,
                GUNICORN_LOGLEVEL="warning",
                **env,
            ),
            stdout=open(self.log, "w"),  # noqa: SIM115 - the server outlives this call
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as res:  # noqa: S310 - loopback
                    if res.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


class CaptureAll:
    """Captures SQL on both the primary and the replica connection: `with CaptureAll() as q: ...;
    assert q.count == 0` (hot paths on a cache hit must not touch either)."""

    def __enter__(self):
        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        self.ctxs = [CaptureQueriesContext(connections[a]) for a in ("default", "replica")]
        for c in self.ctxs:
            c.__enter__()
        return self

    def __exit__(self, *exc):
        for c in self.ctxs:
            c.__exit__(*exc)

    @property
    def queries(self) -> list[dict]:
        return [q for c in self.ctxs for q in c.captured_queries]

    @property
    def count(self) -> int:
        return len(self.queries)


def browser_login(page, username: str, password: str = "surge-pass-123", next_url: str = "") -> None:  # noqa: S107  the test users' password
    """Log in through the real login form and wait until the navigation shows the user."""
    page.goto("/login/" + (f"?next={next_url}" if next_url else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=nav-user]")


def wait_for_drain(queue_key: str, count_rows, expected: int, timeout: float = 60.0) -> None:
    """Nudge the real workers (beat does this every second in production) until the queue and
    its processing lists are empty and `count_rows()` reached `expected`."""
    from project.queue import ReliableQueue
    from project.tasks import drain_queues

    queue = ReliableQueue(queue_key)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.depth() == 0 and queue.in_flight() == 0 and count_rows() >= expected:
            return
        drain_queues.delay()
        time.sleep(0.5)
    raise AssertionError(
        f"not drained: depth={queue.depth()} in_flight={queue.in_flight()} rows={count_rows()} expected={expected}"
    )


def storm_http(
    url: str, attempts: list[tuple[int, str]], *, threads: int = 50, json=None
) -> list[tuple[int, int, dict]]:
    """POST to `url` once per (user id, bearer token) in `attempts`, from `threads` threads that
    start together (a barrier), each on its own keep-alive session. Returns (user id, status,
    body) per attempt, in order."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local = threading.local()
    start = threading.Barrier(threads)

    def attempt(item):
        uid, token = item
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            start.wait()
        res = session.post(url, json=json, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return uid, res.status_code, res.json()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(attempt, attempts))


def in_threads(fn, n: int) -> list[Exception]:
    """Run fn(0), ..., fn(n-1) in n threads that start together (a barrier), each closing its
    database connections when done. Returns the exceptions raised."""
    from django.db import connections

    errors: list[Exception] = []
    barrier = threading.Barrier(n)

    def target(seed):
        try:
            barrier.wait()
            fn(seed)
        except Exception as exc:  # noqa: BLE001  collected for the caller to assert on
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def admin_confirm(client, response, *, twice: bool = False):
    """Click "Yes" on the control room's confirmation page that `response` shows (a change-list
    action posted with follow=True lands there). With twice=True the same form is sent again,
    as a double click would. Returns the (last) followed response."""
    import html
    import re

    page = response.content.decode()
    assert 'data-testid="confirm"' in page, page[-2000:]
    form = page[page.index('action="/admin/controlroom/confirm/"') :]
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.split("</form>")[0])
        if name != "csrfmiddlewaretoken"
    }
    done = client.post("/admin/controlroom/confirm/", fields, follow=True)
    if twice:
        done = client.post("/admin/controlroom/confirm/", fields, follow=True)
    return done


def wait_until(predicate, timeout: float, what: str, *, every: float = 0.2, log: Path | None = None):
    """Poll `predicate` until it returns something true (returned) or `timeout` seconds pass
    (AssertionError naming `what`, with the tail of `log` when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    tail = f":\n{log.read_text()[-3000:]}" if log is not None and log.exists() else ""
    raise AssertionError(f"not within {timeout}s: {what}{tail}")


def admin_browser_login(page, make_user, next_url: str = "/admin/") -> None:
    """A superuser "boss" logged in through the admin's own login form in a real browser."""
    boss = make_user("boss")
    boss.is_staff = boss.is_superuser = True
    boss.save(update_fields=["is_staff", "is_superuser"])
    page.goto(f"/admin/login/?next={next_url}")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "surge-pass-123")
    page.click("input[type=submit]")
