#!/usr/bin/env python3
"""`make drill`: the whole Surge topology as hosts in network namespaces, faults injected under load.

    python deploy/drill.py run            # up, every fault under a storm, the table, down
    python deploy/drill.py run --short    # fewer faults, shorter storms (CI, `make drill-short`)
    python deploy/drill.py up             # only the topology (inspect it; `down` when done)
    python deploy/drill.py down           # stop everything, delete the namespaces (also leftovers)

Hosts (one network namespace each, `surge-<host>`, joined by veth pairs to the bridge `surge-br0`
on 10.231.0.0/24): lb (nginx), app1 and app2 (gunicorn), work1 and work2 (Celery worker and
beat), pg1 and pg2 (Patroni + PostgreSQL, an etcd member each), redis1 and redis2 (master,
replica, a sentinel each), mon (Prometheus, Alertmanager, the webhook receiver that records
each page, the third etcd member and sentinel, and a small probe that reports whether each Redis
and a PostgreSQL primary answer), client (the storms).

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
SENTINEL_HOSTS = ("redis1", "redis2", "mon")
STATE = DRILL_DIR / "state.json"
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


# ---------------------------------------------------------------- network


def netns_missing() -> str:
    """Why the drill cannot run here ('' when it can); the test skips with this reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "no `ip` (apt-get install iproute2)"
    probe = subprocess.run(["ip", "netns", "add", "surge-probe"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", "surge-probe"], capture_output=True, check=False)
    for tool in ("nginx", "etcd", "redis-server", "prometheus", "prometheus-alertmanager"):
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


def redis_start(host: str, replica_of: str | None = None) -> None:
    rdir = DRILL_DIR / f"redis-{host}"
    rdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        shutil.which("redis-server") or "redis-server",
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
    spawn(f"sentinel-{host}", host, [shutil.which("redis-server") or "redis-server", str(conf), "--sentinel"])


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
    am = {
        "route": {
            "receiver": "webhook",
            "group_by": ["alertname", "instance"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "webhook",
                "webhook_configs": [{"url": f"http://{ip('mon')}:{WEBHOOK_PORT}/", "send_resolved": True}],
            }
        ],
    }
    (mdir / "alertmanager.yml").write_text(json.dumps(am, indent=1))
    spawn("webhook", "mon", [PY, str(Path(__file__).resolve()), "webhook", "--log", str(mdir / "pages.jsonl")])
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


def serve_webhook(logfile: str) -> None:
    """Record each page Alertmanager sends: one JSON line per alert, with the time it arrived."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            now = time.time()
            with lock, open(logfile, "a") as out:
                for alert in body.get("alerts", []):
                    line = {
                        "received": now,
                        "status": alert.get("status"),
                        "alertname": alert.get("labels", {}).get("alertname"),
                        "labels": alert.get("labels", {}),
                        "startsAt": alert.get("startsAt"),
                    }
                    out.write(json.dumps(line) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer((ip("mon"), WEBHOOK_PORT), Handler).serve_forever()


def serve_probe() -> None:
    """redis_up per Redis (PING) and pg_up{role="primary"} (some Patroni node answers /primary)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    def metrics() -> str:
        lines = ["# TYPE redis_up gauge"]
        for host in ("redis1", "redis2"):
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
    missing = netns_missing()
    if missing:
        sys.exit(f"drill: cannot run here: {missing}")
    started = time.monotonic()
    DRILL_DIR.mkdir(parents=True, exist_ok=True)
    DRILL_DIR.chmod(0o755)
    if _state()["pids"]:
        down()
    for stale in ("etcd-pg1", "etcd-pg2", "etcd-mon", "devstack/patroni", "mon", "logs"):
        shutil.rmtree(DRILL_DIR / stale, ignore_errors=True)
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


def run(args) -> int:
    with teardown_on_signal(keep=args.keep):
        up()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Surge's topology in network namespaces, faults under load.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="bring the topology up and leave it running (`down` stops it)")
    sub.add_parser("down", help="stop everything the drill started and delete its namespaces")
    p = sub.add_parser("run", help="up, every fault under a storm, the table in deploy/DRILL.md, down")
    p.add_argument("--short", action="store_true", help="fewer faults and shorter storms (CI)")
    p.add_argument("--keep", action="store_true", help="leave the topology up afterwards")
    p.add_argument("--out", default=str(ROOT / "deploy" / "DRILL.md"), help="where the table goes")
    p = sub.add_parser("webhook", help="(inside mon) the receiver that records every page")
    p.add_argument("--log", required=True)
    sub.add_parser("probe", help="(inside mon) redis_up / pg_up for Prometheus")
    sub.add_parser("check-netns", help="exit 1 with the reason when the drill cannot run here")
    args = parser.parse_args()
    if args.cmd == "webhook":
        serve_webhook(args.log)
    elif args.cmd == "probe":
        serve_probe()
    elif args.cmd == "check-netns":
        missing = netns_missing()
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
