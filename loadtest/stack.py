"""The server under test: its own database and Redis database on the dev stack's stores,
production settings, gunicorn (sync workers, cores + 1), a Celery worker and beat, and an
optional static server standing in for the CDN.

Isolation: the stores come from `deploy/devstack.py up` (honouring SURGE_DEVSTACK_DIR, or
DATABASE_URL / REDIS_URL when set), but the bench uses a database of its own (`surge_bench`,
dropped and recreated on every run, so its numbers never depend on leftovers) and a Redis
database of its own (5 by default, flushed at start). Development data is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def log(msg: str) -> None:
    print(f"bench: {msg}", flush=True)


def stack_dir() -> Path:
    return Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack")).resolve()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) != 0


def pick_port(preferred: int) -> int:
    """The preferred loopback port when free, else the next free one (ports above 32768
    collide with ephemeral ports, so stay below)."""
    for port in range(preferred, min(preferred + 200, 32767)):
        if port_free(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                k, _, v = line.partition("=")
                out[k.strip()] = v.strip()
    return out


def _with_db_name(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _with_redis_db(url: str, db: int) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{db}"))


# The Celery worker and beat run at this CPU niceness (as deploy/systemd's worker unit does with
# Nice=): on a shared box the web tier wins the CPU during a storm, and the queue absorbs the
# writes until the spike passes. 0 turns it off (BENCH_WORKER_NICE).
WORKER_NICE = int(os.environ.get("BENCH_WORKER_NICE", "10"))


class Proc:
    """A child process group this harness started (and is the only one to stop)."""

    def __init__(self, name: str, cmd: list[str], env: dict, logfile: Path, *, nice: int = 0):
        self.name = name
        self.logfile = logfile
        if nice:  # `nice` execs the command: same pid, and the worker's pool processes inherit it
            cmd = ["nice", "-n", str(nice), *cmd]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=open(logfile, "w"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class BenchStack:
    def __init__(
        self,
        *,
        run_dir: Path,
        db_name: str = "surge_bench",
        redis_db: int = 5,
        workers: int | None = None,
        web_port: int | None = None,
    ):
        self.run_dir = run_dir
        self.db_name = db_name
        self.redis_db = redis_db
        self.workers = workers or max(3, (os.cpu_count() or 2) + 1)  # as deploy/gunicorn.conf.py
        self.web_port = web_port
        self.procs: dict[str, Proc] = {}
        self.env: dict[str, str] = {}
        self.cdn_server = ""
        self.cdn_url = ""
        self.lb_url = ""

    # ---------------------------------------------------------------- environment

    def stores_up(self) -> None:
        """Start (or reuse) the dev stack's stores and derive the bench's URLs from them."""
        res = subprocess.run([PY, str(ROOT / "deploy" / "devstack.py"), "up"], cwd=ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"bench: devstack up failed:\n{res.stdout}\n{res.stderr}")
        stack_env = _read_env_file(stack_dir() / "stack.env")
        base = {
            k: os.environ.get(k) or stack_env.get(k, "") for k in ("DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL")
        }
        if not base["DATABASE_URL"] or not base["REDIS_URL"]:
            raise SystemExit("bench: no DATABASE_URL / REDIS_URL (devstack did not write stack.env?)")
        base["DATABASE_REPLICA_URL"] = base["DATABASE_REPLICA_URL"] or base["DATABASE_URL"]
        self.primary_url = _with_db_name(base["DATABASE_URL"], self.db_name)
        self.replica_url = _with_db_name(base["DATABASE_REPLICA_URL"], self.db_name)
        self.redis_url = _with_redis_db(base["REDIS_URL"], self.redis_db)
        if self.web_port is None:
            ports = stack_dir() / "ports.json"
            preferred = json.loads(ports.read_text())["base"] + 80 if ports.exists() else 26080
            self.web_port = pick_port(preferred)
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.metrics_dir = self.run_dir / "prometheus"
        self.cdn_root = self.run_dir / "cdn"
        self.cdn_root.mkdir(parents=True, exist_ok=True)
        self.env = {
            "SURGE_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "false",
            # The harness talks plain HTTP to gunicorn on loopback (TLS is the edge's job).
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The product's settings plus the baselines app and its /api/bench/ URLs.
            "DJANGO_SETTINGS_MODULE": "loadtest.settings_bench",
            "DATABASE_URL": self.primary_url,
            "DATABASE_REPLICA_URL": self.replica_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "CDN_ROOT": str(self.cdn_root),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def child_env(self, **extra) -> dict:
        env = dict(os.environ)
        env.update(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def apply_to_this_process(self) -> None:
        """The runner itself seeds data and checks invariants through Django: same settings.
        PROMETHEUS_MULTIPROC_DIR stays unset here so the runner's own counters never mix
        into the server's /metrics."""
        os.environ.update(self.env)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    # ---------------------------------------------------------------- database

    def fresh_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(_with_db_name(self.primary_url, "postgres"), connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            conn.close()
        # The replica streams the whole cluster: wait until it has the new database.
        if self.replica_url != self.primary_url:
            deadline = time.monotonic() + 20
            while True:
                try:
                    psycopg2.connect(self.replica_url, connect_timeout=2).close()
                    break
                except psycopg2.OperationalError:
                    if time.monotonic() > deadline:
                        log("replica does not show the bench database; reads will use the primary")
                        break
                    time.sleep(0.2)
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()
        res = subprocess.run(
            [PY, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.child_env(),
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise SystemExit(f"bench: migrate failed:\n{res.stdout}\n{res.stderr}")

    # ---------------------------------------------------------------- processes

    def start_web(self) -> None:
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        env = self.child_env(
            GUNICORN_BIND=f"127.0.0.1:{self.web_port}",
            WEB_CONCURRENCY=self.workers,
            PROMETHEUS_MULTIPROC_DIR=self.metrics_dir,
            GUNICORN_LOGLEVEL="warning",
        )
        cmd = [PY, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "project.wsgi"]
        self.procs["web"] = Proc("web", cmd, env, self.run_dir / "gunicorn.log")
        self._wait_http(self.url + "/healthz", "web", self.procs["web"])
        # Every worker imports the app lazily on its first request: touch them all before
        # anything is measured.
        for _ in range(self.workers * 4):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "/api/bench/bare/", timeout=5).read()  # noqa: S310 - loopback

    def start_worker(self) -> None:
        if "worker" in self.procs:
            return
        env = self.child_env(PROMETHEUS_MULTIPROC_DIR=self.metrics_dir)
        worker = [
            PY, "-m", "celery", "-A", "project", "worker", "--concurrency=2", "--loglevel=WARNING",
            "--without-gossip", "--without-mingle", "-n", f"bench-{os.getpid()}@%h",
        ]  # fmt: skip
        self.procs["worker"] = Proc("worker", worker, env, self.run_dir / "celery-worker.log", nice=WORKER_NICE)
        beat = [
            PY, "-m", "celery", "-A", "project", "beat", "--loglevel=WARNING",
            "--schedule", str(self.run_dir / "celerybeat-schedule"),
        ]  # fmt: skip
        self.procs["beat"] = Proc("beat", beat, env, self.run_dir / "celery-beat.log", nice=WORKER_NICE)
        self._wait_worker_ready()

    def _wait_worker_ready(self, timeout: float = 60) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs["worker"]
            if not proc.alive():
                raise SystemExit(f"bench: celery worker exited:\n{proc.tail()}")
            # Celery's pool children exist and the broker has seen the worker's queue binding.
            children = psutil.Process(proc.pid).children(recursive=True)
            if len(children) >= 2 and client.exists("_kombu.binding.celery"):
                return
            time.sleep(0.2)
        raise SystemExit(f"bench: celery worker not ready:\n{self.procs['worker'].tail()}")

    def start_cdn(self) -> None:
        """The CDN stand-in: nginx when installed (a C static server, as a CDN edge is), else
        a tiny WSGI file server under gunicorn (sync workers, same count as the app)."""
        if "cdn" in self.procs:
            return
        port = pick_port(self.web_port + 1)
        self.cdn_url = f"http://127.0.0.1:{port}"
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if nginx and not os.environ.get("BENCH_CDN_PYTHON"):
            ndir = self.run_dir / "nginx"
            ndir.mkdir(exist_ok=True)
            user = ""
            if os.geteuid() == 0:
                # nginx's workers drop to nobody unless every parent of the folder lets it in.
                reachable = all(p.stat().st_mode & 0o005 == 0o005 for p in [self.cdn_root, *self.cdn_root.parents])
                user = "user nobody nogroup;" if reachable else "user root root;"
            conf = ndir / "nginx.conf"
            conf.write_text(
                f"""{user}
worker_processes 1;
daemon off;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_timeout 5;
    types {{ application/json json; text/html html; application/xml xml; }}
    client_body_temp_path {ndir}/body; proxy_temp_path {ndir}/proxy;
    fastcgi_temp_path {ndir}/fastcgi; uwsgi_temp_path {ndir}/uwsgi; scgi_temp_path {ndir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /cdn/ {{ alias {self.cdn_root}/; }}
    }}
}}
"""
            )
            self.procs["cdn"] = Proc(
                "cdn", [nginx, "-c", str(conf), "-p", str(ndir)], self.child_env(), ndir / "out.log"
            )
            self.cdn_server = "nginx (1 worker process)"
        else:
            env = self.child_env(BENCH_CDN_ROOT=self.cdn_root)
            cmd = [
                PY, "-m", "gunicorn", "-w", str(self.workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                "loadtest.cdnserver:app",
            ]  # fmt: skip
            self.procs["cdn"] = Proc("cdn", cmd, env, self.run_dir / "cdn.log")
            self.cdn_server = f"gunicorn + loadtest/cdnserver.py ({self.workers} sync workers)"
        deadline = time.monotonic() + 20
        while not port_open(port):
            if not self.procs["cdn"].alive() or time.monotonic() > deadline:
                raise SystemExit(f"bench: CDN server did not start:\n{self.procs['cdn'].tail()}")
            time.sleep(0.1)

    def start_lb(self) -> bool:
        """nginx in front of gunicorn, as deploy/nginx/surge.conf proxies (HTTP/1.1 with upstream
        keep-alive, the forwarded headers, buffered answers, a buffered access log, gzip),
        without its per-IP limit_req zones: every bench client comes from 127.0.0.1, so they
        would throttle the storm that is being measured. False when nginx is not installed."""
        if "lb" in self.procs:
            return True
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if not nginx:
            return False
        port = pick_port(self.web_port + 2)
        ndir = self.run_dir / "nginx-lb"
        ndir.mkdir(exist_ok=True)
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = ndir / "nginx.conf"
        conf.write_text(
            f"""{user}
worker_processes 1;
daemon off;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    log_format surge_main '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                          'rid=$request_id rt=$request_time ua="$upstream_addr" us="$upstream_status" '
                          'urt="$upstream_response_time"';
    access_log {ndir}/access.log surge_main buffer=64k flush=2s;
    client_body_temp_path {ndir}/body; proxy_temp_path {ndir}/proxy;
    fastcgi_temp_path {ndir}/fastcgi; uwsgi_temp_path {ndir}/uwsgi; scgi_temp_path {ndir}/scgi;
    upstream surge_web {{
        least_conn;
        server 127.0.0.1:{self.web_port} max_fails=3 fail_timeout=10s;
        keepalive 32;
        keepalive_timeout 4s;
        keepalive_requests 1000;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_tokens off;
        keepalive_timeout 30s;
        client_max_body_size 1m;
        gzip on; gzip_comp_level 5; gzip_min_length 512; gzip_proxied any; gzip_vary on;
        gzip_types application/json text/html;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-ID $request_id;
        proxy_connect_timeout 1s;
        proxy_read_timeout 35s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 2;
        proxy_buffering on;
        proxy_buffer_size 16k;
        proxy_buffers 16 16k;
        location / {{ proxy_pass http://surge_web; }}
    }}
}}
"""
        )
        self.procs["lb"] = Proc("lb", [nginx, "-c", str(conf), "-p", str(ndir)], self.child_env(), ndir / "out.log")
        self.lb_url = f"http://127.0.0.1:{port}"
        self._wait_http(self.lb_url + "/healthz", "lb", self.procs["lb"])
        return True

    def _wait_http(self, url: str, name: str, proc: Proc, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise SystemExit(f"bench: {name} exited early:\n{proc.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as res:  # noqa: S310 - loopback
                    if res.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"bench: {name} not ready in {timeout}s:\n{proc.tail()}")

    def web_pids(self) -> list[int]:
        master = psutil.Process(self.procs["web"].pid)
        return [master.pid, *(c.pid for c in master.children(recursive=True))]

    def worker_pids(self) -> list[int]:
        if "worker" not in self.procs:
            return []
        master = psutil.Process(self.procs["worker"].pid)
        return [master.pid, *(c.pid for c in master.children(recursive=True))]

    def store_pids(self) -> list[int]:
        """PostgreSQL (primary, replica and their backends) and Redis of the dev stack, when it
        runs them; empty for external stores."""
        pids: list[int] = []
        sd = stack_dir()
        for pidfile in (sd / "pg-primary" / "postmaster.pid", sd / "pg-replica" / "postmaster.pid", sd / "redis.pid"):
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                pid = int(pidfile.read_text().split()[0])
                proc = psutil.Process(pid)
                pids += [pid, *(c.pid for c in proc.children(recursive=True))]
        return pids

    def pg_primary_pids(self) -> list[int]:
        """The PostgreSQL primary's postmaster (its backends are found from it): the one
        database server that cannot be scaled out, so the model sizes it apart."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            return [int((stack_dir() / "pg-primary" / "postmaster.pid").read_text().split()[0])]
        return []

    def redis_pids(self) -> list[int]:
        """Redis alone (a part of store_pids): the grab's Lua runs there, the drain's SQL not."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            return [int((stack_dir() / "redis.pid").read_text().split()[0])]
        return []

    def stop(self) -> None:
        for name in ("lb", "cdn", "beat", "worker", "web"):
            if name in self.procs:
                self.procs[name].stop()


def port_open(port: int) -> bool:
    return not port_free(port)


def add_store_arguments(parser) -> None:
    """`--db-name` / `--redis-db` of the tools that measure in one process (drainbench, inproc)."""
    parser.add_argument("--db-name", default="surge_bench", help="database to (re)create on the dev stack's primary")
    parser.add_argument("--redis-db", type=int, default=5, help="Redis database number (flushed)")


@contextlib.contextmanager
def in_process_stack(kind: str, args) -> Iterator[BenchStack]:
    """The dev stack's stores with a fresh database and Redis database, and Django set up in this
    process with the bench's production settings (no server started): for the tools that
    measure in one process. `args` carries `db_name` and `redis_db` (`add_store_arguments`)."""
    run_dir = stack_dir() / "bench" / f"{kind}-{datetime.now(UTC):%Y-%m-%d-%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(run_dir=run_dir, db_name=args.db_name, redis_db=args.redis_db)
    try:
        stack.stores_up()
        stack.fresh_database()
        stack.apply_to_this_process()
        import django

        django.setup()
        yield stack
    finally:
        stack.stop()
