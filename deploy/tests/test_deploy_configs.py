"""The production artefacts in deploy/ are valid for the tools that run them, and behave as their
comments say.

Real tools where the machine has them (each test skips with the reason when one is missing):
`nginx` (Debian nginx-light), `systemd-analyze`, `promtool` (Debian prometheus),
`docker-compose` (Debian docker-compose) and `docker stack config` (the docker client).
The nginx tests run the real load balancer config against two tiny upstream servers: retries
on a refused connection, never a second send of a POST, the 429 JSON, cache headers.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from project import testing

DEPLOY = Path(__file__).resolve().parent.parent
ROOT = DEPLOY.parent
RUNBOOKS = DEPLOY / "runbooks"
NGINX_CONF = DEPLOY / "nginx" / "surge.conf"
PROM = DEPLOY / "prometheus"

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with drf-spectacular
    yaml = None

needs_yaml = pytest.mark.skipif(yaml is None, reason="PyYAML not installed")


def tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if not path:
        pytest.skip(f"`{name}` not installed on this machine (see deploy/README.md, 'Checking the configs')")
    return path


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def free_port() -> int:
    """A free loopback port, inside this checkout's block (SURGE_DEVSTACK_PORT_BASE + 30 .. + 59)
    when it has one."""
    base = int(os.environ.get("SURGE_DEVSTACK_PORT_BASE") or 0)
    return testing.free_port(base + 30, base + 59) if base else testing.free_port()


# ---------------------------------------------------------------- nginx: syntax


def nginx_wrapper(tmp: Path, *, includes: list[Path], extra_http: str = "", listen_port: int | None = None) -> Path:
    """An nginx.conf that includes the deploy files inside `http {}`, as Debian's does."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read files under tmp_path
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        "  default_type application/octet-stream;\n"
        # Debian's nginx.conf sets these in http {}: surge.conf must not set them twice.
        "  gzip on;\n  server_tokens on;\n"
        f"  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
        f"  fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n"
        f"{extra_http}" + "".join(f"  include {p};\n" for p in includes) + "}\n"
    )
    return conf


def nginx_t(nginx: str, conf: Path, tmp: Path) -> None:
    result = run([nginx, "-t", "-p", f"{tmp}/", "-c", str(conf)])
    assert result.returncode == 0, f"nginx -t failed:\n{result.stderr}"
    assert "[emerg]" not in result.stderr and "[warn]" not in result.stderr.replace('"user" directive', ""), (
        result.stderr
    )


def site_copy(tmp: Path) -> Path:
    """surge.conf with its logs under tmp (nginx -t opens them; no files in /var/log from a test)."""
    copy = tmp / "surge.conf"
    copy.write_text(NGINX_CONF.read_text().replace("/var/log/nginx/", f"{tmp}/"))
    return copy


def test_nginx_conf_passes_nginx_t_with_the_host_upstream(tmp_path):
    nginx = tool("nginx")
    conf = nginx_wrapper(tmp_path, includes=[site_copy(tmp_path), DEPLOY / "nginx" / "upstream.conf"])
    nginx_t(nginx, conf, tmp_path)


def test_nginx_conf_passes_nginx_t_with_the_compose_upstream(tmp_path):
    nginx = tool("nginx")
    # Compose service names do not resolve outside compose: same file, loopback addresses.
    text = (DEPLOY / "nginx" / "upstream.compose.conf").read_text()
    text = re.sub(r"server web\d+:8000", "server 127.0.0.1:8000", text)
    upstream = tmp_path / "upstream.compose.conf"
    upstream.write_text(text)
    conf = nginx_wrapper(tmp_path, includes=[site_copy(tmp_path), upstream])
    nginx_t(nginx, conf, tmp_path)


def test_nginx_timeouts_sit_around_gunicorns():
    site = NGINX_CONF.read_text()
    gunicorn = (DEPLOY / "gunicorn.conf.py").read_text()
    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
    worker_timeout = int(re.search(r'"GUNICORN_TIMEOUT", "(\d+)"', gunicorn).group(1))
    gunicorn_keepalive = int(re.search(r"^keepalive = (\d+)", gunicorn, re.M).group(1))
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", site).group(1))
    idle = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))
    # gunicorn kills a stuck worker before nginx gives up on it, and nginx drops an idle upstream
    # connection before gunicorn closes it under a request (which would be a spurious 502).
    assert worker_timeout < read_timeout <= worker_timeout + 10
    assert idle < gunicorn_keepalive


def test_gunicorn_workers_freeze_the_loaded_app_out_of_the_collector(tmp_path):
    """post_worker_init runs in a real worker once the app is loaded: afterwards the app's
    objects sit in the permanent generation (a full collection no longer scans them)."""
    code = (
        "import gc, runpy\n"
        f"conf = runpy.run_path({str(DEPLOY / 'gunicorn.conf.py')!r})\n"
        "import django.conf, json, decimal  # stand-ins for the loaded app\n"
        "assert gc.get_freeze_count() == 0\n"
        "conf['post_worker_init'](None)\n"
        "print(gc.get_freeze_count())\n"
    )
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) > 1000


def _directives_without_servers(path: Path) -> list[str]:
    lines = [re.sub(r"#.*", "", line).strip() for line in path.read_text().splitlines()]
    return [re.sub(r"^server \S+", "server ADDR", line) for line in lines if line]


def test_host_and_compose_upstreams_differ_only_in_addresses():
    host = _directives_without_servers(DEPLOY / "nginx" / "upstream.conf")
    compose = _directives_without_servers(DEPLOY / "nginx" / "upstream.compose.conf")
    assert host == compose


def location_block(text: str, head: str) -> str:
    match = re.search(re.escape(head) + r" \{(.*?)\n    \}", text, re.S)
    assert match, head
    return match.group(1)


# The POSTs that may be re-sent once they reached a server (idempotent per user or by key).
RETRIED_POST_LOCATIONS = [
    "location ~ ^/api/redpackets/[0-9]+/grab/$",
    "location = /api/signin/",
    "location = /api/orders/",
]


def test_nginx_conf_retries_only_safely_and_limits_the_hot_posts():
    text = re.sub(r"#.*", "", NGINX_CONF.read_text())
    assert re.search(r"proxy_next_upstream\s+error timeout http_502 http_503;", text)
    assert re.search(r"proxy_next_upstream_tries\s+2;", text)
    assert re.search(r"proxy_next_upstream_timeout\s+5s;", text)
    safe = [location_block(text, head) for head in RETRIED_POST_LOCATIONS]
    for block in safe:
        assert re.search(r"proxy_next_upstream error timeout non_idempotent;", block)
    # Nowhere else: a flash buy (new token each time) or a login is never sent twice.
    assert text.count("non_idempotent") == len(RETRIED_POST_LOCATIONS)
    flash = location_block(text, "location ^~ /api/flash/")
    assert "proxy_next_upstream" not in flash and "limit_req zone=surge_flash_ip" in flash
    grab = location_block(text, RETRIED_POST_LOCATIONS[0])
    assert "limit_req zone=surge_grab_ip" in grab
    assert "X-Forwarded-Proto" in text and "real_ip_header" in text and "client_max_body_size" in text


# ---------------------------------------------------------------- nginx: behaviour


class Upstream:
    """A stand-in app server: answers 200 JSON (or `fail_with`), and records what it was sent."""

    def __init__(self, name: str, fail_with: int | None = None):
        self.name = name
        self.fail_with = fail_with
        self.seen: list[tuple[str, str, dict]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                upstream.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status = upstream.fail_with or 200
                body = json.dumps({"server": upstream.name}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.seen if m == method)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Balancer:
    def __init__(self, port: int, proc: subprocess.Popen | None = None, upstream: Path | None = None):
        self.port = port
        self.proc = proc
        self.upstream = upstream

    def reload(self) -> None:
        """`nginx -s reload`: new workers read the config, old ones finish their requests."""
        os.kill(self.proc.pid, signal.SIGHUP)
        time.sleep(0.5)

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()


@pytest.fixture
def start_balancer(tmp_path):
    """Run the real surge.conf on a loopback port, in front of the given upstream ports."""
    nginx = tool("nginx")
    started: list[subprocess.Popen] = []

    def start(upstream_ports: list[int], *, trust_loopback: bool = True) -> Balancer:
        port = free_port()
        site = NGINX_CONF.read_text()
        site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
        site = site.replace("/var/log/nginx/", f"{tmp_path}/")
        site = site.replace("/opt/surge/app/staticfiles/", f"{tmp_path}/static/")
        site = site.replace("/var/lib/surge/cdn/", f"{tmp_path}/cdn/")
        site = site.replace("/var/lib/surge/media/", f"{tmp_path}/media/")
        if not trust_loopback:
            site = re.sub(r"^\s*(set_real_ip_from )?127\.0\.0\.1/32\s*1?;\s*$", "", site, flags=re.M)
        (tmp_path / "surge.conf").write_text(site)
        upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
        servers = iter(upstream_ports)
        upstream = re.sub(r"server 127\.0\.0\.1:800\d", lambda m: f"server 127.0.0.1:{next(servers)}", upstream)
        (tmp_path / "upstream.conf").write_text(upstream)
        conf = nginx_wrapper(tmp_path, includes=[tmp_path / "surge.conf", tmp_path / "upstream.conf"])
        proc = subprocess.Popen(
            [nginx, "-p", f"{tmp_path}/", "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        started.append(proc)
        balancer = Balancer(port, proc, tmp_path / "upstream.conf")
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                if balancer.request("GET", "/lb-health")[0] == 200:
                    return balancer
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def upstreams():
    made: list[Upstream] = []

    def make(name: str, **kw) -> Upstream:
        made.append(Upstream(name, **kw))
        return made[-1]

    yield make
    for u in made:
        u.close()


def grab(balancer: Balancer, n: int, *, same_client: bool = False):
    return [
        balancer.request(
            "POST",
            "/api/redpackets/7/grab/",
            {"Authorization": f"Bearer token-{0 if same_client else i}", "Content-Type": "application/json"},
            b"{}",
        )
        for i in range(n)
    ]


def test_balancer_moves_gets_and_posts_to_the_live_server_when_one_refuses_connections(start_balancer, upstreams):
    live = upstreams("live")
    dead_port = free_port()  # nothing listens: connection refused, the request was never sent
    balancer = start_balancer([dead_port, live.port])

    gets = [balancer.request("GET", "/orders/")[0] for _ in range(10)]
    posts = [status for status, _, _ in grab(balancer, 10)]

    assert gets == [200] * 10
    assert posts == [200] * 10, "a POST whose connection failed before sending is safe to retry"
    assert live.count("POST") == 10


def test_balancer_never_sends_a_post_twice_when_a_server_answers_502(start_balancer, upstreams):
    failing = upstreams("failing", fail_with=502)
    healthy = upstreams("healthy")
    balancer = start_balancer([failing.port, healthy.port])

    statuses = [status for status, _, _ in grab(balancer, 20)]

    # Every grab reached exactly one app server: the ones that got the 502 were not replayed.
    assert failing.count("POST") + healthy.count("POST") == 20
    assert failing.count("POST") >= 1
    assert statuses.count(502) == failing.count("POST")
    assert statuses.count(200) == healthy.count("POST")


def test_balancer_retries_a_get_that_got_502_on_the_other_server(start_balancer, upstreams):
    failing = upstreams("failing", fail_with=502)
    healthy = upstreams("healthy")
    balancer = start_balancer([failing.port, healthy.port])

    results = [balancer.request("GET", "/api/home/") for _ in range(10)]

    assert [status for status, _, _ in results] == [200] * 10
    assert all(json.loads(body)["server"] == "healthy" for _, _, body in results)
    assert failing.count("GET") >= 1


def test_balancer_answers_json_503_when_every_server_is_down(start_balancer):
    balancer = start_balancer([free_port(), free_port()])

    status, headers, body = balancer.request("GET", "/api/home/")

    assert status == 503
    assert headers["content-type"] == "application/json"
    assert "unavailable" in json.loads(body)["detail"]


class RecorderGunicorn:
    """A real gunicorn (one sync worker) serving deploy/tests/recorder_wsgi.py: every request it
    receives is a line in `log`; with hang=True it never answers, so a test can SIGKILL it while
    nginx waits."""

    def __init__(self, tmp: Path, name: str, log: Path, *, hang: bool = False):
        self.port = free_port()
        env = {**os.environ, "RECORDER_NAME": name, "RECORDER_LOG": str(log)}
        if hang:
            env["RECORDER_HANG"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{self.port}", "--timeout", "60"]
            + ["--chdir", str(DEPLOY / "tests"), "recorder_wsgi:app"],
            env=env,
            stdout=open(tmp / f"gunicorn-{name}.log", "w"),  # noqa: SIM115 - outlives this call
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"gunicorn {name} did not start: {(tmp / f'gunicorn-{name}.log').read_text()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the master and its worker at once (a host's gunicorn dying)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def recorder_servers(tmp_path):
    log = tmp_path / "requests.log"
    log.write_text("")
    started: list[RecorderGunicorn] = []

    def start(name: str, **kw) -> RecorderGunicorn:
        started.append(RecorderGunicorn(tmp_path, name, log, **kw))
        return started[-1]

    yield start, log
    for server in started:
        server.kill()


def post_while_killing(balancer: Balancer, path: str, dying: RecorderGunicorn, log: Path):
    """POST `path` through nginx; once the dying server has received it, SIGKILL that server.
    Retries (bounded) until least_conn sends the POST to the dying server first. Returns the
    client's (status, body) and the log's lines for that path."""
    for _ in range(10):
        log.write_text("")
        result: dict = {}
        thread = threading.Thread(
            target=lambda: result.update(
                answer=balancer.request(
                    "POST", path, {"Authorization": "Bearer t", "Content-Type": "application/json"}, b"{}"
                )
            )
        )
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and thread.is_alive() and "dying POST" not in log.read_text():
            time.sleep(0.02)
        if "dying POST" in log.read_text():
            dying.kill()
            thread.join(timeout=15)
            status, _, body = result["answer"]
            return status, body, log.read_text().splitlines()
        thread.join(timeout=15)
    pytest.fail("nginx never sent the POST to the dying server first")


def test_balancer_resends_a_grab_to_the_other_server_when_the_first_dies_with_it(
    start_balancer, recorder_servers, tmp_path
):
    start, log = recorder_servers
    dying, live = start("dying", hang=True), start("live")
    balancer = start_balancer([dying.port, live.port])

    status, body, seen = post_while_killing(balancer, "/api/redpackets/7/grab/", dying, log)

    # The app answers a repeated grab 409 with the amount, so the re-send is safe.
    assert seen == ["dying POST /api/redpackets/7/grab/", "live POST /api/redpackets/7/grab/"]
    assert status == 200 and json.loads(body)["server"] == "live"


@pytest.mark.parametrize("path", ["/api/signin/", "/api/orders/"])
def test_balancer_resends_a_sign_in_and_a_keyed_purchase_when_the_server_dies(start_balancer, recorder_servers, path):
    start, log = recorder_servers
    dying, live = start("dying", hang=True), start("live")
    balancer = start_balancer([dying.port, live.port])

    status, _, seen = post_while_killing(balancer, path, dying, log)

    assert seen == [f"dying POST {path}", f"live POST {path}"] and status == 200


def test_balancer_never_resends_a_flash_buy_when_the_server_dies_with_it(start_balancer, recorder_servers):
    start, log = recorder_servers
    dying, live = start("dying", hang=True), start("live")
    balancer = start_balancer([dying.port, live.port])

    status, body, seen = post_while_killing(balancer, "/api/flash/3/buy/", dying, log)

    # A second send could buy twice (a new token each time): the client gets the JSON 503 and
    # asks for the order status or buys again itself.
    assert seen == ["dying POST /api/flash/3/buy/"]
    assert status == 503 and "unavailable" in json.loads(body)["detail"]

    # The dead server now refuses connections: the next buy goes to the live one (never sent twice).
    log.write_text("")
    answers = [
        balancer.request("POST", "/api/flash/3/buy/", {"Authorization": f"Bearer u{i}"}, b"{}")[0] for i in range(4)
    ]
    assert answers == [200] * 4
    assert log.read_text().splitlines() == ["live POST /api/flash/3/buy/"] * 4


# The locations whose answers take milliseconds: a host that went silent under a request is
# given up on after a short read timeout (drill finding 3), not gunicorn's 35 s.
HOT_LOCATIONS = [
    *RETRIED_POST_LOCATIONS,
    "location ^~ /api/flash/",
    "location ~ ^/api/(me|me/ledger|home|products|products/[0-9]+"
    "|redpackets|redpackets/mine|redpackets/[0-9]+|signin/calendar)/$",
]


def _seconds(text: str, directive: str) -> int:
    return int(re.search(rf"^\s*{directive}\s+(\d+)s;", text, re.M).group(1))


def test_hot_locations_give_up_on_a_silent_host_in_time_to_re_send():
    text = re.sub(r"#.*", "", NGINX_CONF.read_text())
    server = text.split("location", 1)[0]
    connect, next_timeout = _seconds(server, "proxy_connect_timeout"), _seconds(server, "proxy_next_upstream_timeout")
    assert connect <= 1
    for head in HOT_LOCATIONS:
        block = location_block(text, head)
        read = _seconds(block, "proxy_read_timeout")
        # The read timeout ends within the re-send window, so a request that may be re-sent is.
        assert read + connect < next_timeout, head
        assert _seconds(block, "proxy_send_timeout") <= read, head


def _upstream_statuses(access_log: Path, marker: str, timeout: float = 10) -> list[str]:
    """$upstream_status of the logged request whose line holds `marker` (the site's access log
    is buffered and flushed every 2 s): one status per upstream the request was sent to."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in access_log.read_text().splitlines() if access_log.exists() else []:
            if marker in line:
                return [s.strip() for s in re.search(r'us="([^"]*)"', line).group(1).split(",")]
        time.sleep(0.2)
    pytest.fail(f"no access log line for {marker}")


def request_via_frozen(balancer: Balancer, method: str, path: str, log: Path, access_log: Path):
    """Send `method path` through nginx until one attempt (bounded) went to the SIGSTOPped server
    first. Returns (status, body, seconds, upstream statuses, what the live server received)."""
    for attempt in range(8):
        log.write_text("")
        marker = f"attempt={attempt}-{random.randint(0, 10**9)}"
        headers = {"Authorization": f"Bearer u{attempt}", "Content-Type": "application/json"}
        started = time.monotonic()
        status, _, body = balancer.request(method, f"{path}?{marker}", headers, b"{}" if method == "POST" else None)
        seconds = time.monotonic() - started
        upstream = _upstream_statuses(access_log, marker)
        if upstream[0] == "504":  # the frozen server took the request and never answered
            return status, body, seconds, upstream, log.read_text().splitlines()
    pytest.fail("nginx never sent the request to the frozen server first")


@pytest.fixture
def frozen_and_live(start_balancer, recorder_servers, tmp_path):
    """A real gunicorn that stops answering without closing (SIGSTOP: its socket still accepts,
    like a host whose link died under established connections) and a live one, behind nginx."""
    start, log = recorder_servers
    frozen, live = start("frozen"), start("live")
    balancer = start_balancer([frozen.port, live.port])
    os.killpg(frozen.proc.pid, signal.SIGSTOP)
    try:
        yield balancer, log, tmp_path / "surge.access.log"
    finally:
        os.killpg(frozen.proc.pid, signal.SIGCONT)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/redpackets/7/grab/"), ("POST", "/api/signin/"), ("GET", "/api/me/"), ("GET", "/api/orders/")],
)
def test_a_re_sendable_request_to_a_silent_host_is_answered_by_the_other_within_seconds(frozen_and_live, method, path):
    balancer, log, access_log = frozen_and_live

    status, body, seconds, upstream, seen = request_via_frozen(balancer, method, path, log, access_log)

    assert status == 200 and json.loads(body)["server"] == "live"
    assert upstream == ["504", "200"] and seen == [f"live {method} {path}"]
    # Bounded by the hot read timeout (3 s), not gunicorn's 35 s; generous for 2 shared cores.
    assert seconds < 15, seconds


def test_a_flash_buy_to_a_silent_host_fails_fast_and_is_not_re_sent(frozen_and_live):
    balancer, log, access_log = frozen_and_live

    status, body, seconds, upstream, seen = request_via_frozen(balancer, "POST", "/api/flash/3/buy/", log, access_log)

    # Sent once: the frozen server may still act on it, so the client asks for its order status.
    assert upstream == ["504"] and seen == []
    assert status == 503 and "unavailable" in json.loads(body)["detail"]
    assert seconds < 15, seconds


def test_balancer_throttles_one_client_hammering_the_grab_with_json_429(start_balancer, upstreams):
    live = upstreams("live")
    balancer = start_balancer([live.port, live.port])

    results = grab(balancer, 30, same_client=True)
    statuses = [status for status, _, _ in results]

    assert 429 in statuses and 200 in statuses
    throttled = next(r for r in results if r[0] == 429)
    assert throttled[1]["content-type"] == "application/json"
    assert throttled[1]["retry-after"] == "1"
    assert "slow down" in json.loads(throttled[2])["detail"]
    assert live.count("POST") == statuses.count(200), "a throttled grab never reaches an app server"


def test_balancer_passes_client_address_and_scheme_from_the_trusted_edge(start_balancer, upstreams):
    live = upstreams("live")
    balancer = start_balancer([live.port, live.port])

    balancer.request("GET", "/me/", {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})

    _, _, headers = live.seen[-1]
    assert headers["x-real-ip"] == "203.0.113.9"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-request-id"]


def test_balancer_ignores_a_forwarded_scheme_from_an_untrusted_client(start_balancer, upstreams):
    live = upstreams("live")
    balancer = start_balancer([live.port, live.port], trust_loopback=False)

    balancer.request("GET", "/me/", {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})

    _, _, headers = live.seen[-1]
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"


def test_balancer_keeps_bench_and_metrics_private(start_balancer, upstreams):
    live = upstreams("live")
    balancer = start_balancer([live.port, live.port])

    assert balancer.request("GET", "/api/bench/bare/")[0] == 404
    assert balancer.request("GET", "/metrics")[0] == 404
    assert balancer.request("POST", "/api/auth/login/", {}, b"x" * (2 * 1024 * 1024))[0] == 413
    assert live.seen == []


def test_balancer_serves_static_and_cdn_files_with_their_cache_headers(start_balancer, upstreams, tmp_path):
    live = upstreams("live")
    (tmp_path / "static" / "css").mkdir(parents=True)
    (tmp_path / "static" / "css" / "site.0123456789ab.css").write_text("body{}")
    (tmp_path / "static" / "css" / "site.css").write_text("body{}")
    (tmp_path / "cdn").mkdir()
    (tmp_path / "cdn" / "home.json").write_text(json.dumps({"products": ["x" * 40] * 100}))
    balancer = start_balancer([live.port, live.port])

    hashed = balancer.request("GET", "/static/css/site.0123456789ab.css")
    plain = balancer.request("GET", "/static/css/site.css")
    home = balancer.request("GET", "/cdn/home.json", {"Accept-Encoding": "gzip"})

    assert hashed[0] == 200 and hashed[1]["cache-control"] == "public, max-age=31536000, immutable"
    assert plain[0] == 200 and plain[1]["cache-control"] == "public, max-age=3600"
    assert home[0] == 200
    assert "max-age=5" in home[1]["cache-control"] and "stale-while-revalidate=30" in home[1]["cache-control"]
    assert home[1]["content-type"] == "application/json"
    assert home[1].get("content-encoding") == "gzip"
    assert live.seen == [], "files come from disk, not from an app server"


# ---------------------------------------------------------------- systemd

UNITS = DEPLOY / "systemd"


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze")
    # verify checks that ExecStart binaries exist: point the venv at this checkout's.
    venv_bin = str(Path(sys.executable).parent) + "/"
    curl = shutil.which("curl") or "/bin/true"
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/surge/venv/bin/", venv_bin).replace("/usr/bin/curl", curl)
        (tmp_path / unit.name).write_text(text)
    result = run(
        [
            analyze,
            "verify",
            "--man=no",
            "surge-web@8001.service",
            "surge-worker.service",
            "surge-beat.service",
            "surge.target",
        ],
        cwd=tmp_path,
    )
    # verify exits 0 on unknown keys and bad values, and only prints them: any output is a failure.
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 0 and not problems, "\n".join(problems)


def parse_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("unit", ["surge-web@.service", "surge-worker.service", "surge-beat.service"])
def test_systemd_service_restarts_reads_the_env_file_and_is_hardened(unit):
    parsed = parse_unit(UNITS / unit)
    service = parsed["Service"]
    assert service["EnvironmentFile"] == "/etc/surge/surge.env"
    assert service["Restart"] == "always"
    # A store outage of any length must not exhaust systemd's restart budget.
    assert parsed["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["User"] == "surge"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service.get(key) == value, f"{unit}: {key}={value}"
    assert parse_unit(UNITS / unit)["Unit"]["PartOf"] == "surge.target"


def test_systemd_web_instance_is_its_port_with_its_own_metrics_dir():
    service = parse_unit(UNITS / "surge-web@.service")["Service"]
    assert "--bind 127.0.0.1:%i" in service["ExecStart"]
    assert "/run/surge-web-%i/" in service["Environment"] or any(
        "PROMETHEUS_MULTIPROC_DIR=/run/surge-web-%i/" in line
        for line in (UNITS / "surge-web@.service").read_text().splitlines()
    )
    assert "http://127.0.0.1:%i/healthz" in service["ExecStartPost"]


def test_systemd_target_wants_the_ports_nginx_balances():
    wants = parse_unit(UNITS / "surge.target")["Unit"]["Wants"].split()
    nginx_ports = re.findall(r"server 127\.0\.0\.1:(\d+)", (DEPLOY / "nginx" / "upstream.conf").read_text())
    assert sorted(w for w in wants if w.startswith("surge-web@")) == [f"surge-web@{p}.service" for p in nginx_ports]
    assert "surge-worker.service" in wants and "surge-beat.service" in wants


# ---------------------------------------------------------------- environment file


def test_env_example_lists_every_setting_the_code_reads():
    sources = [ROOT / "project" / "settings.py", DEPLOY / "gunicorn.conf.py"]
    names: set[str] = set()
    for src in sources:
        text = src.read_text()
        names |= set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
        names |= set(re.findall(r"os\.environ(?:\.get|\.setdefault)?\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
        names |= set(re.findall(r"os\.environ\[\"([A-Z][A-Z0-9_]*)\"\]", text))
    names -= {"SURGE_DEVSTACK_DIR"}  # the local dev stack only
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names, "the settings parser found nothing: update this test"
    example = (DEPLOY / "surge.env.example").read_text()
    missing = sorted(n for n in names if not re.search(rf"\b{n}\b", example))
    assert not missing, f"add to deploy/surge.env.example: {', '.join(missing)}"


# ---------------------------------------------------------------- compose, Dockerfile

COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_ENV = {"SECRET_KEY": "test-only", "POSTGRES_PASSWORD": "test-only", "REPLICATION_PASSWORD": "test-only"}


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_passes_docker_compose_config():
    """The Compose spec, depends_on conditions included (docker-compose v1 or the v2 plugin)."""
    if shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", str(COMPOSE), "config", "-q"]
    elif shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        cmd = ["docker", "compose", "-f", str(COMPOSE), "config", "-q"]
    else:
        pytest.skip("neither `docker-compose` nor the `docker compose` plugin is installed")
    result = run(cmd, cwd=DEPLOY, env={**os.environ, **COMPOSE_ENV})
    assert result.returncode == 0, result.stderr


@needs_yaml
def test_compose_file_passes_docker_stack_config(tmp_path):
    """The swarm schema of `docker stack config` (needs no engine). It wants depends_on as a list
    (swarm ignores start order), so the conditions are folded to names first."""
    docker = tool("docker")
    data = {k: v for k, v in load_compose().items() if not k.startswith("x-")}
    for service in data["services"].values():
        if isinstance(service.get("depends_on"), dict):
            service["depends_on"] = sorted(service["depends_on"])
    stack = tmp_path / "compose.stack.yaml"
    stack.write_text(yaml.safe_dump(data))
    result = run([docker, "stack", "config", "-c", str(stack)], env={**os.environ, **COMPOSE_ENV})
    assert result.returncode == 0, result.stderr


@needs_yaml
def test_compose_has_the_whole_stack_with_health_and_restart_policies():
    services = load_compose()["services"]
    for name in ["db-primary", "db-replica", "redis", "web1", "web2", "worker", "beat", "nginx", "prometheus"]:
        assert name in services, name
    for name, service in services.items():
        if name != "release":
            assert service.get("restart") == "unless-stopped", f"{name} restarts by itself"
    for name in ["db-primary", "db-replica", "redis", "web1", "web2", "worker", "nginx", "prometheus"]:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has a healthcheck"
    assert "/readyz" in " ".join(services["web1"]["healthcheck"]["test"])
    assert services["web1"]["depends_on"]["release"]["condition"] == "service_completed_successfully"
    assert services["web1"]["depends_on"]["db-primary"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["web1"]["condition"] == "service_healthy"
    assert services["db-replica"]["depends_on"]["db-primary"]["condition"] == "service_healthy"


@needs_yaml
def test_compose_mounts_only_files_that_exist():
    for name, service in load_compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    for name in ["upstream.compose.conf", "surge.conf"]:
        assert (DEPLOY / "nginx" / name).exists()


def test_dockerfile_builds_a_non_root_image_with_static_files_and_gunicorn():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "collectstatic --noinput" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    entry = DEPLOY / "docker-entrypoint.sh"
    assert "deploy/docker-entrypoint.sh" in text and os.access(entry, os.X_OK)
    assert "exec gunicorn -c deploy/gunicorn.conf.py" in entry.read_text()
    # The Dockerfile installs the "# Runtime" block of requirements.txt: it must hold the server.
    reqs = (ROOT / "requirements.txt").read_text()
    block = re.search(r"^# Runtime\n(.*?)^# Embedded", reqs, re.S | re.M)
    assert block, "requirements.txt lost its '# Runtime' / '# Embedded' markers the Dockerfile relies on"
    for package in ("Django==", "gunicorn==", "psycopg2-binary==", "celery[redis]==", "whitenoise=="):
        assert package in block.group(1), package


@pytest.mark.parametrize(
    "script, shell",
    [
        ("docker-entrypoint.sh", "sh"),
        ("bin/surge-manage", "sh"),
        ("bin/surge-rolling-restart", "sh"),
        ("postgres/primary-init.sh", "bash"),
        ("postgres/replica-entrypoint.sh", "bash"),
    ],
)
def test_shell_scripts_parse_and_are_executable(script, shell):
    path = DEPLOY / script
    assert os.access(path, os.X_OK), f"chmod +x deploy/{script}"
    result = run([shell, "-n", str(path)])
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- Prometheus


def test_prometheus_config_passes_promtool():
    promtool = tool("promtool")
    result = run([promtool, "check", "config", str(PROM / "prometheus.yml")], cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_promtool():
    promtool = tool("promtool")
    result = run([promtool, "check", "rules", str(PROM / "alerts.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_in_their_promtool_unit_tests():
    promtool = tool("promtool")
    result = run([promtool, "test", "rules", "alerts.test.yml"], cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_yaml
def test_every_alert_has_severity_summary_and_an_existing_runbook():
    rules = [r for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    for needed in [
        "SurgeWebInstanceDown",
        "SurgeNotReady",
        "SurgeHigh5xxRate",
        "SurgeHighP99Latency",
        "SurgeQueueRequeueing",
        "SurgeQueueReaping",
        "SurgeQueueDeadLetters",
        "SurgeReplicaLagging",
    ]:
        assert needed in names, needed
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert (ROOT / rule["annotations"]["runbook"]).is_file(), f"{rule['alert']}: {rule['annotations']['runbook']}"
    exprs = " ".join(r["expr"] for r in rules)
    assert "surge_http_request_seconds_bucket" in exprs
    for event in ("requeued", "reaped", "dead"):
        assert f'event="{event}"' in exprs


@needs_yaml
def test_prometheus_targets_match_for_both_layouts():
    for folder in ("targets", "targets.compose"):
        for name in ("web.yml", "worker.yml", "readyz.yml", "postgres.yml", "redis.yml"):
            groups = yaml.safe_load((PROM / folder / name).read_text())
            assert groups and all(g["targets"] for g in groups), f"{folder}/{name}"
    host_web = yaml.safe_load((PROM / "targets" / "web.yml").read_text())[0]["targets"]
    nginx_servers = re.findall(r"server (127\.0\.0\.1:\d+)", (DEPLOY / "nginx" / "upstream.conf").read_text())
    assert host_web == nginx_servers, "Prometheus scrapes every app server nginx balances"


# ---------------------------------------------------------------- runbooks and README

REQUIRED_RUNBOOKS = [
    "sale-day-checklist.md",
    "redis-down.md",
    "primary-down.md",
    "replica-lag.md",
    "worker-stuck-or-killed.md",
    "queue-backlog.md",
    "rolling-deploy.md",
]

# The app whose management/commands/ will hold each command the runbooks name (DESIGN.md and
# the module issues); used to tell "not built yet" from "misspelt".
COMMAND_APPS = {
    "redpackets": "redpackets",
    "orders": "orders",
    "signin": "signin",
    "cache": "usercenter",
    "staticgen": "staticgen",
    "seed_demo": "project",
    "queue": "project",
    "health": "project",
}

# `manage.py X`, `surge-manage X` and compose's `... web1 manage X`, with an optional subcommand.
COMMAND_RE = re.compile(r"(?:manage\.py|surge-manage|web1 manage)[ \t]+([a-z][\w-]*)(?:[ \t]+([a-z][\w-]*))?")


def runbook_commands() -> dict[str, set[str]]:
    """{command: {subcommands or words after it}} for every `manage.py X` / `surge-manage X`."""
    found: dict[str, set[str]] = {}
    for path in sorted(RUNBOOKS.glob("*.md")) + [DEPLOY / "README.md"]:
        for cmd, sub in COMMAND_RE.findall(path.read_text()):
            found.setdefault(cmd, set())
            if sub:
                found[cmd].add(sub)
    return found


def test_every_required_runbook_exists_and_the_readme_links_every_file():
    readme = (DEPLOY / "README.md").read_text()
    for name in REQUIRED_RUNBOOKS:
        assert (RUNBOOKS / name).is_file(), name
    ignored = {"__pycache__", "tests", "Procfile.dev", "devstack.py", "run.py", "README.md"}
    unlisted = []
    for path in sorted(DEPLOY.rglob("*")):
        rel = path.relative_to(DEPLOY)
        if path.is_dir() or rel.parts[0] in ignored or path.suffix == ".pyc":
            continue
        if str(rel) not in readme and rel.name not in readme:
            unlisted.append(str(rel))
    assert not unlisted, f"deploy/README.md does not mention: {', '.join(unlisted)}"


def _subcommands(command) -> set[str] | None:
    parser = command.create_parser("manage.py", "x")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return None


@pytest.mark.parametrize("name", sorted(runbook_commands()))
def test_runbook_command_exists(name):
    from django.core.management import get_commands, load_command_class

    words = runbook_commands()[name]
    commands = get_commands()
    if name not in commands:
        app = COMMAND_APPS.get(name)
        folder = ROOT / (app or "-") / "management" / "commands"
        landed = folder.is_dir() and any(p.name != "__init__.py" for p in folder.glob("*.py"))
        if app and not landed:
            pytest.skip(f"`manage.py {name}`: {app}/management/commands/ has no commands yet (module in progress)")
        where = f"{app}/management/commands/{name}.py" if app else "an installed app"
        pytest.fail(f"runbooks name `manage.py {name}`, which does not exist (expected {where})")
    subs = _subcommands(load_command_class(commands[name], name))
    if subs is not None:
        missing = sorted(w for w in words if w not in subs)
        assert not missing, f"`manage.py {name}` has no subcommand(s) {missing}; it has {sorted(subs)}"


def test_runbook_urls_resolve_to_app_views():
    from django.urls import Resolver404, resolve

    paths = set()
    for path in RUNBOOKS.glob("*.md"):
        paths |= set(re.findall(r"http://127\.0\.0\.1:\d+(/[\w/.-]*)", path.read_text()))
    assert "/readyz" in paths
    unresolved = []
    for path in sorted(paths):
        try:
            resolve(path)
        except Resolver404:
            unresolved.append(path)
    assert not unresolved, unresolved


# ---------------------------------------------------------------- the real app behind the balancer


class AppServer:
    """The real Surge gunicorn (deploy/gunicorn.conf.py, 2 sync workers) on a fixed port, so it
    can be restarted in place like `systemctl restart surge-web@PORT`."""

    def __init__(self, tmp: Path, port: int):
        self.tmp, self.port = tmp, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from project.testing import child_env

        metrics = self.tmp / f"metrics-{self.port}"
        metrics.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "project.wsgi"],
            cwd=ROOT,
            env=child_env(
                GUNICORN_BIND=f"127.0.0.1:{self.port}",
                WEB_CONCURRENCY=2,
                PROMETHEUS_MULTIPROC_DIR=metrics,
                GUNICORN_LOGLEVEL="warning",
            ),
            stdout=open(self.tmp / f"gunicorn-{self.port}.log", "a"),  # noqa: SIM115 - outlives this call
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # What the unit's ExecStartPost does: started = answers /healthz.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.tmp / f"gunicorn-{self.port}.log").read_text()[-2000:]
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.1)
        pytest.fail(f"gunicorn on {self.port} did not start")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def app_servers(transactional_db, tmp_path):
    servers = [AppServer(tmp_path, free_port()) for _ in range(2)]
    for s in servers:
        s.start()
    yield servers
    for s in servers:
        s.stop()
    from django.db import connections

    connections.close_all()


def under_load(balancer: Balancer, action, *, seconds_after: float = 1.5, threads: int = 3) -> dict:
    """Send GETs and POSTs through the balancer from a few threads while `action()` runs.
    Returns {(method, outcome): count}; an outcome is the status or the exception's name."""
    stop = threading.Event()
    outcomes: dict[tuple[str, str], int] = {}
    lock = threading.Lock()

    def client(n: int):
        i = 0
        while not stop.is_set():
            i += 1
            method, path, body = (
                ("GET", "/healthz", None) if i % 2 else ("POST", "/healthz", json.dumps({"client": n, "i": i}).encode())
            )
            try:
                status = balancer.request(method, path, {"Content-Type": "application/json"}, body)[0]
                outcome = str(status)
            except Exception as exc:  # noqa: BLE001 - every failure counts
                outcome = type(exc).__name__
            with lock:
                outcomes[(method, outcome)] = outcomes.get((method, outcome), 0) + 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        action()
        time.sleep(seconds_after)
    finally:
        stop.set()
        for w in workers:
            w.join()
    return outcomes


def failures(outcomes: dict) -> dict:
    # Every request is a /healthz: 200 for GET, 403 for POST (CSRF), both answered by the app.
    # Anything else (nginx's 503, a reset) was dropped on the way.
    return {k: v for k, v in outcomes.items() if k[1] != {"GET": "200", "POST": "403"}[k[0]]}


def test_reloading_an_app_server_under_load_drops_no_request(app_servers, start_balancer):
    """`systemctl reload surge-web@PORT` (HUP): new workers with new code, the listening socket
    stays open, the old workers finish their requests."""
    a, b = app_servers
    balancer = start_balancer([a.port, b.port])

    outcomes = under_load(balancer, lambda: a.signal(signal.SIGHUP), seconds_after=3)

    print("reload under load:", outcomes)
    assert sum(outcomes.values()) > 50
    assert failures(outcomes) == {}


def test_restarting_an_app_server_under_load_drops_no_get(app_servers, start_balancer):
    """`systemctl restart surge-web@PORT` (TERM, then a new process): nginx retries GETs on the
    other server while this one is down."""
    a, b = app_servers
    balancer = start_balancer([a.port, b.port])

    def restart():
        a.signal(signal.SIGTERM)
        a.proc.wait(timeout=20)
        a.start()

    outcomes = under_load(balancer, restart)

    print("restart under load:", outcomes)
    assert sum(outcomes.values()) > 50
    assert {k: v for k, v in failures(outcomes).items() if k[0] == "GET"} == {}


def test_restarting_an_app_server_under_load_drops_no_post_when_drained_first(app_servers, start_balancer):
    """A plain restart can drop a POST: connections waiting in the closing server's listen queue
    are reset after nginx sent them, and a POST is not re-sent. deploy/bin/surge-rolling-restart
    therefore marks the server `down` and reloads nginx first; this is that procedure."""
    a, b = app_servers
    balancer = start_balancer([a.port, b.port])
    original = balancer.upstream.read_text()

    def drained_restart():
        balancer.upstream.write_text(re.sub(rf"(server 127\.0\.0\.1:{a.port}\b[^;]*);", r"\1 down;", original))
        balancer.reload()
        a.signal(signal.SIGTERM)
        a.proc.wait(timeout=20)
        a.start()
        balancer.upstream.write_text(original)
        balancer.reload()

    outcomes = under_load(balancer, drained_restart)

    print("drained restart under load:", outcomes)
    assert sum(outcomes.values()) > 50
    assert failures(outcomes) == {}


def test_sigkilling_an_app_server_during_sign_ins_loses_none_and_pays_each_user_once(
    app_servers, start_balancer, make_user, token_for, tmp_path
):
    """The real app: sign-ins (idempotent per day, so nginx may re-send them) through the real
    nginx while one gunicorn is SIGKILLed with its workers, requests in flight included.

    nginx re-sends only what it has not begun to answer: gunicorn writes a response's headers and
    its body in two writes, so a worker killed between them leaves nginx a 200 it has already
    forwarded and cannot finish. That client sees its answer cut off (IncompleteRead, at most one
    per killed worker) and asks again, which the idempotent sign-in answers 200."""
    from signin.models import SignIn
    from usercenter.models import LedgerEntry, Wallet

    a, b = app_servers
    balancer = start_balancer([a.port, b.port])
    tokens = [token_for(make_user(f"storm{i}")) for i in range(40)]
    statuses: list[int | str] = []
    cut_then: list[int | str] = []  # what asking again answered, for each answer cut off
    lock = threading.Lock()

    def sign_in(token: str) -> int | str:
        try:
            return balancer.request("POST", "/api/signin/", {"Authorization": f"Bearer {token}"})[0]
        except Exception as exc:  # noqa: BLE001 - every failure counts
            return type(exc).__name__

    def client(chunk: list[str]):
        for token in chunk:
            for _ in range(2):  # the second is a double click: "already"
                status = sign_in(token)
                with lock:
                    statuses.append(status)
                if status == http.client.IncompleteRead.__name__:
                    again = sign_in(token)
                    with lock:
                        cut_then.append(again)

    threads = [threading.Thread(target=client, args=(tokens[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(statuses) < 20 and time.monotonic() < deadline:  # kill in the middle of the storm
        time.sleep(0.005)
    os.killpg(a.proc.pid, signal.SIGKILL)
    a.proc.wait(timeout=10)
    for t in threads:
        t.join(timeout=60)

    cut = statuses.count(http.client.IncompleteRead.__name__)
    assert statuses.count(200) + cut == 80, {s: statuses.count(s) for s in set(statuses)}
    assert cut <= 2 and cut_then == [200] * cut, (cut, cut_then)  # 2 sync workers were killed
    rows = list(SignIn.objects.values_list("user__username", flat=True))
    assert sorted(rows) == sorted(f"storm{i}" for i in range(40)), "one sign-in row per user"
    rewards = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.SIGNIN_REWARD)
    assert rewards.count() == 40
    for wallet in Wallet.objects.filter(user__username__startswith="storm"):
        assert wallet.points == sum(rewards.filter(user_id=wallet.user_id).values_list("points", flat=True))
    balancer.proc.send_signal(signal.SIGTERM)  # flush the buffered access log
    balancer.proc.wait(timeout=10)
    log = (tmp_path / "surge.access.log").read_text()
    print("sign-ins re-sent to the other server:", len(re.findall(r'ua="[^",]+, ', log)))


# ---------------------------------------------------------------- deploy/bin/surge-rolling-restart

FAKE_TOOLS = {
    # Each fake logs its call and, for the interesting ones, the upstream lines at that moment.
    "nginx": 'echo "nginx $*" >> "$LOG"; [ "$1" = "-s" ] && grep "server 127" "$SURGE_UPSTREAM_CONF" >> "$LOG"; exit 0',
    "systemctl": 'echo "systemctl $*" >> "$LOG"',
    "curl": 'echo "curl $*" >> "$LOG"; exit "${CURL_EXIT:-0}"',
}


def rolling_restart(tmp: Path, *args: str, curl_exit: int = 0) -> tuple[subprocess.CompletedProcess, list[str], Path]:
    fake = tmp / "bin"
    fake.mkdir(exist_ok=True)
    for name, body in FAKE_TOOLS.items():
        (fake / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake / name).chmod(0o755)
    upstream = tmp / "surge-upstream.conf"
    upstream.write_text((DEPLOY / "nginx" / "upstream.conf").read_text())
    log = tmp / "calls.log"
    log.write_text("")
    env = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "LOG": str(log),
        "SURGE_UPSTREAM_CONF": str(upstream),
        "SURGE_SETTLE_SECONDS": "0",
        "CURL_EXIT": str(curl_exit),
    }
    result = run(["sh", str(DEPLOY / "bin" / "surge-rolling-restart"), *args], env=env)
    return result, [line.strip() for line in log.read_text().splitlines()], upstream


def test_rolling_restart_takes_each_server_out_of_nginx_before_restarting_it(tmp_path):
    result, calls, upstream = rolling_restart(tmp_path)

    assert result.returncode == 0, result.stderr
    restarts = [i for i, c in enumerate(calls) if c.startswith("systemctl restart")]
    assert [calls[i] for i in restarts] == ["systemctl restart surge-web@8001", "systemctl restart surge-web@8002"]
    for i, port in zip(restarts, ["8001", "8002"], strict=True):
        # The last reload before the restart had exactly this server down.
        pool = [c for c in calls[:i] if c.startswith("server ")][-2:]
        assert [("down;" in line) for line in pool] == [port == "8001", port == "8002"], pool
        assert f"curl --silent --fail --output /dev/null --max-time 5 http://127.0.0.1:{port}/readyz" in calls[i + 1]
    assert upstream.read_text() == (DEPLOY / "nginx" / "upstream.conf").read_text()
    assert not list(tmp_path.glob("*.bak"))


def test_rolling_restart_stops_and_keeps_a_server_out_when_it_is_not_ready(tmp_path):
    result, calls, upstream = rolling_restart(tmp_path, "8002", curl_exit=22)

    assert result.returncode == 1
    assert "not ready" in result.stderr
    assert [c for c in calls if c.startswith("systemctl")] == ["systemctl restart surge-web@8002"]
    lines = [line for line in upstream.read_text().splitlines() if "server 127" in line]
    assert "down;" in lines[1] and "down;" not in lines[0]
