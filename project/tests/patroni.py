"""A Patroni cluster for the failover and restore drills: `devstack.py up --pg patroni` in a
folder of its own (its own ports: the dev stack's port base + 50), torn down afterwards.

The drills point the test process's own database connections at it while they run (`use`),
and start gunicorn and Celery workers with its multi-host URLs (`app_env`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = ROOT / "deploy" / "devstack.py"
MAIN_STACK_DIR = Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack")).resolve()
# The drill cluster's ports sit 50 above the dev stack's, inside its block of 100.
PORT_OFFSET = 50


def missing() -> str:
    """Why the drills cannot run on this machine ('' when they can)."""
    res = subprocess.run([sys.executable, str(DEVSTACK), "check-patroni"], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return res.stdout.strip() or res.stderr.strip()[-300:]
    if not shutil.which("pgbackrest"):
        return "no pgbackrest (apt-get install pgbackrest)"
    return ""


def _main_port_base() -> int:
    ports = MAIN_STACK_DIR / "ports.json"
    if ports.exists():
        return int(json.loads(ports.read_text())["base"])
    return int(os.environ.get("SURGE_DEVSTACK_PORT_BASE", "25430"))


_PG_BIN = "import glob; print(sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=lambda p: int(p.split('/')[-2]))[-1])"


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *cmd]


def _http(url: str, timeout: float = 1.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:  # noqa: S310 - loopback
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


class PatroniCluster:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="surge-patroni-", dir="/tmp"))
        self.dir.chmod(0o755)  # PostgreSQL and Patroni run as `postgres` and must enter it
        self.base = _main_port_base() + PORT_OFFSET
        from django.conf import settings

        self.env = dict(
            os.environ,
            SURGE_DEVSTACK_DIR=str(self.dir),
            SURGE_DEVSTACK_PORT_BASE=str(self.base),
            # Built once, next to the dev stack, and shared by every drill run.
            SURGE_PATRONI_VENV=os.environ.get("SURGE_PATRONI_VENV") or str(MAIN_STACK_DIR / "patroni-venv"),
            REDIS_URL=settings.REDIS_URL,
        )
        self.env.pop("DATABASE_URL", None)
        self.env.pop("DATABASE_REPLICA_URL", None)
        self.stack_env: dict[str, str] = {}

    # ------------------------------------------------------------ lifecycle

    def up(self) -> float:
        started = time.monotonic()
        self.devstack("up", "--pg", "patroni")
        pairs = (line.split("=", 1) for line in (self.dir / "stack.env").read_text().splitlines() if "=" in line)
        self.stack_env = dict(pairs)
        self.manage("migrate", "--noinput", "-v", "0")
        return time.monotonic() - started

    def down(self) -> None:
        with contextlib.suppress(Exception):
            self.devstack("down")
        shutil.rmtree(self.dir, ignore_errors=True)

    def devstack(self, *args: str, timeout: float = 150) -> str:
        res = subprocess.run(
            [sys.executable, str(DEVSTACK), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if res.returncode != 0:
            logs = "".join(
                f"\n--- {p.name}\n" + p.read_text(errors="replace")[-1500:]
                for p in (self.dir / "patroni").glob("*.log")
            )
            raise RuntimeError(f"devstack {' '.join(args)} failed: {res.stdout[-2000:]}{res.stderr[-2000:]}{logs}")
        return res.stdout

    def app_env(self) -> dict[str, str]:
        """What a gunicorn or worker needs to run on this cluster (their own replica connection
        is the real standby: prefer-standby)."""
        return {
            "DATABASE_URL": self.stack_env["DATABASE_URL"],
            "DATABASE_REPLICA_URL": self.stack_env["DATABASE_REPLICA_URL"],
            "SURGE_TEST_REAL_REPLICA": "1",
            "SURGE_TEST_DB_NAME": "surge",
            "PATRONI_URLS": self.stack_env["PATRONI_URLS"],
            "PGBACKREST_COMMAND": self.stack_env["PGBACKREST_COMMAND"],
            "PGBACKREST_STANZA": self.stack_env["PGBACKREST_STANZA"],
        }

    def manage(self, *args: str, timeout: float = 120, check: bool = True, **env) -> subprocess.CompletedProcess:
        child = {**self.env, "DJANGO_SETTINGS_MODULE": "project.settings_test", **self.app_env(), **env}
        res = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=child,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        if check and res.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} exit {res.returncode}: {res.stdout[-2000:]}{res.stderr[-3000:]}"
            )
        return res

    # ------------------------------------------------------------ the cluster

    @property
    def nodes(self) -> dict[str, tuple[int, int]]:
        """name -> (PostgreSQL port, Patroni REST port)"""
        return {"node1": (self.base + 22, self.base + 24), "node2": (self.base + 23, self.base + 25)}

    def members(self) -> dict[str, dict]:
        for _pg, rest in self.nodes.values():
            status, body = _http(f"http://127.0.0.1:{rest}/cluster")
            if status == 200:
                return {m["name"]: m for m in body.get("members", [])}
        return {}

    def leader(self) -> str:
        for name, m in self.members().items():
            if m.get("role") == "leader" and m.get("state") == "running":
                return name
        return ""

    def wait_healthy(self, timeout: float = 60) -> dict[str, dict]:
        """A running leader and a streaming replica."""
        deadline = time.monotonic() + timeout
        members: dict[str, dict] = {}
        while time.monotonic() < deadline:
            members = self.members()
            roles = sorted((m.get("role"), m.get("state")) for m in members.values())
            if len(roles) == 2 and ("leader", "running") in roles and any(s == "streaming" for _r, s in roles):
                return members
            time.sleep(0.3)
        raise AssertionError(f"cluster not healthy in {timeout}s: {members}")

    def sigkill_leader(self) -> str:
        """SIGKILL the leader's Patroni and its postmaster (a host dying, as far as they can tell)."""
        leader = self.leader()
        assert leader, self.members()
        patroni_pid = int((self.dir / "patroni" / f"{leader}.pid").read_text())
        data = self.dir / "patroni" / leader / "data"
        postmaster_pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(patroni_pid, signal.SIGKILL)
        os.kill(postmaster_pid, signal.SIGKILL)
        return leader

    def restart_node(self, name: str) -> None:
        """Start a killed node's Patroni again (systemd's Restart= does this in production)."""
        self.devstack("up", "--pg", "patroni")

    def switchover(self, candidate: str) -> subprocess.CompletedProcess:
        venv = Path(self.env["SURGE_PATRONI_VENV"])
        config = self.dir / "patroni" / self.leader() / "patroni.yml"
        return subprocess.run(
            [
                str(venv / "bin" / "patronictl"),
                "-c",
                str(config),
                "switchover",
                "--leader",
                self.leader(),
                "--candidate",
                candidate,
                "--force",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    # ------------------------------------------------------------ this process's connections

    # ------------------------------------------------------------ a restored data directory

    def start_restored(self, data: Path, port: int, timeout: float = 60) -> None:
        """Start PostgreSQL on a restored data directory (it replays WAL to the target and
        promotes), alone: no archiving, no synchronous standby, its own port and socket."""
        pg_bin = Path(subprocess.check_output([sys.executable, "-c", _PG_BIN], text=True).strip())
        options = (
            f"-p {port} -c unix_socket_directories={data.parent} -c archive_mode=off "
            "-c synchronous_standby_names='' -c hot_standby=on"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(pg_bin / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(data.parent / "restored.log"),
                ]
            ),
            check=True,
            capture_output=True,
            cwd="/",
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = subprocess.run(
                [
                    str(pg_bin / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "-d",
                    "surge",
                    "-tAXc",
                    "SELECT pg_is_in_recovery()",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if res.stdout.strip() == "f":
                return
            time.sleep(0.2)
        raise AssertionError(
            f"restored server not promoted in {timeout}s: {(data.parent / 'restored.log').read_text()[-2000:]}"
        )

    def stop_restored(self, data: Path) -> None:
        pg_bin = Path(subprocess.check_output([sys.executable, "-c", _PG_BIN], text=True).strip())
        subprocess.run(
            _as_postgres([str(pg_bin / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(data)]),
            capture_output=True,
            check=False,
            cwd="/",
        )

    # ------------------------------------------------------------ this process's connections

    @contextlib.contextmanager
    def use(self, url: str = ""):
        """Point this test process's `default` and `replica` aliases at the cluster's primary
        (multi-host, read-write), or at `url`, for the block; back to what they were after."""
        from django.db import connections

        from project import db_router

        url = url or self.stack_env["DATABASE_URL"]
        import environ

        cfg = environ.Env.db_url_config(url)
        saved = {}
        connections.close_all()
        db_router.close_health_connection()
        for alias in ("default", "replica"):
            settings_dict = connections[alias].settings_dict
            saved[alias] = {k: settings_dict.get(k) for k in ("HOST", "PORT", "NAME", "OPTIONS")}
            settings_dict.update(
                HOST=cfg["HOST"],
                PORT=cfg["PORT"],
                NAME=cfg["NAME"],
                OPTIONS={**cfg.get("OPTIONS", {}), "connect_timeout": 2},
            )
        try:
            yield
        finally:
            connections.close_all()
            db_router.close_health_connection()
            for alias, values in saved.items():
                connections[alias].settings_dict.update(values)
            db_router.reset_replica_status()
