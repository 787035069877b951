"""Fixtures shared by every app's tests. Everything runs against the live stores.

- Redis: the test settings use their own Redis database, flushed before each test.
- `devstack`: stop/start the local primary, replica or Redis (tests that need it are skipped
  when the stores come from the environment and cannot be controlled).
- `celery_worker`: a real `celery worker` process on the test database.
- `browser` / `page`: headless Chromium through Playwright.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from project.testing import GunicornProcess, WorkerProcess, child_env  # noqa: F401  re-exported for the apps' tests

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent

DEVSTACK = ROOT / "deploy" / "devstack.py"
STACK_DIR = Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack")).resolve()


@pytest.fixture(scope="session", autouse=True)
def _close_side_connections(django_db_setup):
    """The replica health probe keeps its own connection; close it before the test DB is dropped."""
    yield
    from django.db import connections

    from project import db_router

    db_router.close_health_connection()
    for conn in connections.all():
        conn.close()


@pytest.fixture(autouse=True)
def _clean_redis_and_caches():
    """Each test starts with an empty test Redis database and cold process-local caches."""
    from project import db_router
    from project.redis import RedisUnavailable, get_redis

    with contextlib.suppress(RedisUnavailable):
        get_redis().flushdb()
    from project import cache as two_level

    for instance in list(two_level.TwoLevelCache.instances()):
        instance.clear_local()
    from usercenter import auth

    auth.clear_local()
    db_router.reset_replica_status()
    db_router.end_request()
    yield
    db_router.end_request()


# ---------------------------------------------------------------- dev stack control


class Devstack:
    def __init__(self):
        self.stopped: set[str] = set()

    def run(self, action: str, name: str) -> None:
        env = dict(os.environ)
        subprocess.run([sys.executable, str(DEVSTACK), action, name], check=True, env=env, capture_output=True)

    def stop(self, name: str) -> None:
        self.run("stop", name)
        self.stopped.add(name)

    def start(self, name: str) -> None:
        self.run("start", name)
        self.stopped.discard(name)
        if name == "redis":
            self._wait_redis()

    def postmaster_pid(self, name: str) -> int:
        """The PID of the primary's or replica's postmaster (first line of postmaster.pid)."""
        data = STACK_DIR / ("pg-primary" if name == "primary" else "pg-replica")
        return int((data / "postmaster.pid").read_text().splitlines()[0])

    def restart_killed(self, name: str, timeout: float = 30) -> None:
        """Start a PostgreSQL server whose postmaster a test SIGKILLed, once its orphaned
        backends (which notice the death within moments) have let go of the shared memory."""
        deadline = time.monotonic() + timeout
        while True:
            res = subprocess.run(
                [sys.executable, str(DEVSTACK), "start", name], env=dict(os.environ), capture_output=True
            )
            if res.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not restart: {res.stderr.decode()[-2000:]}")
            time.sleep(0.5)

    def replica_delay(self, seconds: float) -> None:
        """The replica applies WAL `seconds` late (PostgreSQL's recovery_min_apply_delay)."""
        subprocess.run([sys.executable, str(DEVSTACK), "replica-delay", str(seconds)], check=True, env=dict(os.environ))

    def _wait_redis(self) -> None:
        from project.redis import RedisUnavailable, get_redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                get_redis().ping()
                return
            except RedisUnavailable:
                time.sleep(0.1)


@pytest.fixture
def devstack():
    if os.environ.get("SURGE_DEVSTACK_PG") == "patroni":
        pytest.skip("the dev stack runs in Patroni mode (devstack.py up --pg patroni): stop/start is the plain pair's")
    if os.environ.get("SURGE_TEST_REDIS_MODE", "single") != "single":
        # stop/start name the single-node Redis; the Sentinel and Cluster drills kill their own.
        pytest.skip(f"Redis runs in {os.environ['SURGE_TEST_REDIS_MODE']} mode: stop/start is the single node's")
    needs = {"SURGE_DEVSTACK_PG", "SURGE_DEVSTACK_REDIS"}
    missing = [n for n in needs if os.environ.get(n) != "1"]
    if missing:
        pytest.skip(f"stores come from the environment ({', '.join(missing)} unset): cannot stop/start them")
    stack = Devstack()
    yield stack
    for name in list(stack.stopped):
        stack.start(name)
    from django.db import connections

    from project import db_router

    for conn in connections.all():
        conn.close()
    # The router's own probe connections may point at a server that was stopped (in tests the
    # replica alias mirrors the primary): the next test must not find them dead.
    db_router.close_health_connection()
    db_router.reset_replica_status()


# ---------------------------------------------------------------- processes on the test database


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """Start real Celery worker processes against the test database: factory(name, **env)."""
    workers: list[WorkerProcess] = []

    def start(name: str = "w1", **env) -> WorkerProcess:
        worker = WorkerProcess(tmp_path, name, **env)
        workers.append(worker)
        return worker

    yield start
    for w in workers:
        w.stop()


@pytest.fixture
def celery_worker(celery_worker_factory):
    return celery_worker_factory("w1")


@pytest.fixture
def live_gunicorn(transactional_db, tmp_path):
    """A real gunicorn with two sync worker processes on the test database (`.url`)."""
    server = GunicornProcess(tmp_path)
    yield server
    server.stop()


# ---------------------------------------------------------------- users and clients


@pytest.fixture
def make_user(db):
    from usercenter import services

    counter = {"n": 0}

    def make(username: str | None = None, password: str = "surge-pass-123", **kw):
        counter["n"] += 1
        return services.user_register(username=username or f"user{counter['n']}", password=password, **kw)

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def token_for(db):
    from usercenter import services

    def issue(user) -> str:
        return services.token_issue(user_id=user.pk, name="test")

    return issue


@pytest.fixture
def admin_client(client, make_user):
    """A superuser ("boss") logged in through the cached backend (replaces pytest-django's)."""
    admin = make_user("boss")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(admin, backend="usercenter.auth.CachedUserBackend")
    return client


@pytest.fixture
def auth_client(client, user):
    client.force_login(user, backend="usercenter.auth.CachedUserBackend")
    client.user = user
    return client


# ---------------------------------------------------------------- browser


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium for browser tests (.ci/run installs it)")
        pytest.skip("no Chromium found (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15000)
    pg = context.new_page()
    yield pg
    context.close()


# The failover drills: `make test` runs them beside the main suite, on a dev stack of their own
# (deploy/testrun.py), because they mostly wait on a store to fail over and they stop stores.
ROOT = Path(__file__).resolve().parent
HA_MODULES = {
    "project/tests/test_database_unavailable.py",
    "project/tests/test_replica_reconnect.py",
    "project/tests/test_redis_sentinel.py",
    "project/tests/test_redis_cluster.py",
    "redpackets/tests/test_redis_lost.py",
}


# The hot paths' tests (grab, flash buy, sign-in, order page 1, me, home, the reliable queue and
# its reaper): `make test-redis-modes` runs them again on a Sentinel group and on a Redis Cluster
# (SURGE_TEST_REDIS_MODE), where the same code must pass through redis-py's other clients.
HOTPATH_MODULES = {
    "redpackets/tests/test_grab_api.py",
    "redpackets/tests/test_grab_drain.py",
    "orders/tests/test_flash_buy_api.py",
    "orders/tests/test_flash_drain.py",
    "signin/tests/test_signin_api.py",
    "signin/tests/test_signin_concurrency.py",
    "orders/tests/test_order_list_api.py",
    "usercenter/tests/test_me_api.py",
    "usercenter/tests/test_home_api.py",
    "project/tests/test_queue.py",
    "project/tests/test_queued_sale.py",
    "project/tests/test_redis_cluster_layer.py",
}
REDIS_TEST_MODES = ("single", "sentinel", "cluster")


@pytest.fixture(scope="session", autouse=True)
def _redis_test_mode():
    """With SURGE_TEST_REDIS_MODE=sentinel|cluster, the run is on a dev stack of that mode: its
    stores are brought up (or back, when a drill left a node down) and the settings must point at
    them. The settings are read before any fixture runs, so the stack's stack.env must exist
    first: `make test-redis-modes` (deploy/testrun.py --redis-modes) starts the stack, then pytest."""
    mode = os.environ.get("SURGE_TEST_REDIS_MODE", "")
    if not mode:
        yield "single"
        return
    if mode not in REDIS_TEST_MODES:
        pytest.exit(f"SURGE_TEST_REDIS_MODE={mode!r}: one of {', '.join(REDIS_TEST_MODES)}", returncode=4)
    from django.conf import settings

    configured = "cluster" if settings.REDIS_CLUSTER_NODES else "sentinel" if settings.REDIS_SENTINELS else "single"
    if configured != mode:
        pytest.exit(
            f"SURGE_TEST_REDIS_MODE={mode} but the settings are in {configured} mode: start the stack first "
            f"(SURGE_DEVSTACK_DIR={STACK_DIR} devstack.py up --redis {mode}), or run `make test-redis-modes`",
            returncode=4,
        )
    if mode != "single":
        up = subprocess.run(
            [sys.executable, str(DEVSTACK), "up", "--redis", mode], env=dict(os.environ), capture_output=True, text=True
        )
        if up.returncode != 0:
            pytest.exit(f"the {mode} dev stack did not come up: {up.stdout[-1500:]}{up.stderr[-1500:]}", returncode=4)
    yield mode


def _module(item) -> str:
    try:
        return item.path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return ""


def pytest_collection_modifyitems(items):
    """Every DB test may use both aliases (the replica mirrors the primary in tests); the
    failover drills carry the `ha` marker, the hot paths' tests `hotpath`."""
    for item in items:
        if _module(item) in HA_MODULES or item.get_closest_marker("patroni"):
            item.add_marker(pytest.mark.ha)
        if _module(item) in HOTPATH_MODULES:
            item.add_marker(pytest.mark.hotpath)
        marker = item.get_closest_marker("django_db")
        fixtures = set(getattr(item, "fixturenames", ()))
        if marker is None and fixtures & {"db", "transactional_db", "live_server"}:
            transaction = bool(fixtures & {"transactional_db", "live_server"})
            item.add_marker(pytest.mark.django_db(transaction=transaction, databases="__all__"), append=False)
        elif marker is not None and "databases" not in marker.kwargs:
            item.add_marker(pytest.mark.django_db(*marker.args, **marker.kwargs, databases="__all__"), append=False)
