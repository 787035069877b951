"""Alerts reach a person: every rule has a promtool test that makes it fire, the Alertmanager
config passes amtool, and real Prometheus + Alertmanager + the webhook receiver page when a
scraped target goes down.

Debian packages: prometheus (promtool, prometheus), prometheus-alertmanager (amtool,
prometheus-alertmanager). Each test skips with the reason when one is missing. Everything runs on
loopback ports from this checkout's block (SURGE_DEVSTACK_PORT_BASE + 60 ...), bounded in time,
and every process is stopped by its PID, also when the test fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from project import testing

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with drf-spectacular
    yaml = None

DEPLOY = Path(__file__).resolve().parent.parent
PROM = DEPLOY / "prometheus"
AM = DEPLOY / "alertmanager"
WEBHOOK = AM / "webhook.py"

needs_yaml = pytest.mark.skipif(yaml is None, reason="PyYAML not installed")


def tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if not path:
        pytest.skip(f"`{name}` not installed on this machine (Debian: prometheus, prometheus-alertmanager)")
    return path


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def next_port() -> int:
    """A free loopback port in this checkout's block (other checkouts use the other blocks)."""
    base = int(os.environ.get("SURGE_DEVSTACK_PORT_BASE") or 25430)
    return testing.free_port(base + 60, base + 99)


def rules() -> list[dict]:
    return [r for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]]


# ---------------------------------------------------------------- static checks


@needs_yaml
def test_every_alert_rule_fires_in_a_promtool_test():
    tests = yaml.safe_load((PROM / "alerts.test.yml").read_text())["tests"]
    fired = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    missing = sorted({r["alert"] for r in rules()} - fired)
    assert not missing, f"alerts without a promtool test that makes them fire: {missing}"


@needs_yaml
def test_the_drill_has_an_alert_for_each_fault():
    names = {r["alert"] for r in rules()}
    for fault, alert in {
        "app host down": "SurgeWebInstanceDown",
        "worker down": "SurgeWorkerDown",
        "primary down": "SurgePrimaryDown",
        "Redis down": "SurgeRedisDown",
        "beat not running": "SurgeBeatNotRunning",
        "queue backlog": "SurgeQueueBacklogGrowing",
    }.items():
        assert alert in names, fault


def test_alertmanager_config_passes_amtool():
    amtool = tool("amtool")
    result = run([amtool, "check-config", str(AM / "alertmanager.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


@needs_yaml
def test_alertmanager_routes_every_severity_to_the_pager():
    config = yaml.safe_load((AM / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    severities = {r["labels"]["severity"] for r in rules()}
    for route in config["route"].get("routes", []):
        assert route["receiver"] in receivers
        for matcher in route["matchers"]:
            severities.discard(re.fullmatch(r'severity="(\w+)"', matcher).group(1))
    assert not severities, f"severities without their own route: {severities}"
    assert receivers["pager"]["webhook_configs"][0]["url"].endswith("/page")


def test_webhook_turns_each_alert_of_a_group_into_one_json_line():
    spec = importlib.util.spec_from_file_location("surge_webhook", WEBHOOK)
    webhook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(webhook)

    payload = {
        "status": "firing",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "A", "severity": "critical", "instance": "x"}},
            {"status": "resolved", "labels": {"alertname": "B", "severity": "warning"}, "annotations": {"s": "t"}},
        ],
    }
    lines = [json.loads(line) for line in webhook.page_lines(payload, 12.5)]
    assert [(p["alertname"], p["status"], p["instance"]) for p in lines] == [
        ("A", "firing", "x"),
        ("B", "resolved", None),
    ]
    assert lines[1]["annotations"] == {"s": "t"} and lines[0]["received"] == 12.5


# ---------------------------------------------------------------- the real thing


class FakeTarget:
    """A /metrics endpoint that can be taken down: stands in for an app server or a worker."""

    def __init__(self, port: int, text: str):
        self.text = text
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                body = target.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = port
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
            if resp.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds}s")


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []

    def start(cmd: list[str], log: Path) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_pages(pages: Path, n: int, seconds: float = 60) -> list[dict]:
    """The first `n` pages the webhook recorded (bounded wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = pages.read_text().splitlines()
        if len(lines) >= n:
            time.sleep(1)  # anything else paged with them arrives in the same group interval
            return [json.loads(line) for line in pages.read_text().splitlines()]
        time.sleep(0.25)
    pytest.fail(f"{n} page(s) expected within {seconds}s, got: {pages.read_text()}")


def test_a_target_that_goes_down_pages_through_prometheus_alertmanager_and_the_webhook(tmp_path, processes):
    """The production rules and routes with short timings: scrape and evaluate every second and
    every `for:` cut to 2 s, so the page arrives in seconds instead of the real minute."""
    prometheus, alertmanager = tool("prometheus"), tool("prometheus-alertmanager")
    web1, web2, worker, prom_port, am_port, hook_port = (next_port() for _ in range(6))
    pages = tmp_path / "pages.jsonl"

    processes([sys.executable, str(WEBHOOK), "--port", str(hook_port), "--out", str(pages)], tmp_path / "webhook.log")

    am_conf = (AM / "alertmanager.yml").read_text()
    am_conf = am_conf.replace("http://127.0.0.1:9095/page", f"http://127.0.0.1:{hook_port}/page")
    am_conf = re.sub(r"group_wait: \w+", "group_wait: 1s", am_conf)
    am_conf = re.sub(r"group_interval: \w+", "group_interval: 2s", am_conf)
    (tmp_path / "alertmanager.yml").write_text(am_conf)
    am = processes(
        [
            alertmanager,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # one Alertmanager: no gossip port
        ],
        tmp_path / "alertmanager.log",
    )

    (tmp_path / "alerts.yml").write_text(re.sub(r"for: \w+", "for: 2s", (PROM / "alerts.yml").read_text()))
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
                "rule_files": ["alerts.yml"],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [
                    {
                        "job_name": "surge-web",
                        "static_configs": [{"targets": [f"127.0.0.1:{web1}", f"127.0.0.1:{web2}"]}],
                    },
                    {"job_name": "surge-worker", "static_configs": [{"targets": [f"127.0.0.1:{worker}"]}]},
                ],
            }
        )
    )
    # The app servers report a beat holding its lock, so the only change is the one we make.
    targets = [FakeTarget(p, "surge_beat_active 1\n") for p in (web1, web2)]
    targets.append(FakeTarget(worker, 'surge_queue_events_total{queue="q",event="handled"} 1\n'))
    try:
        prom = processes(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path / "prometheus.log",
        )
        wait_http(f"http://127.0.0.1:{am_port}/-/ready", am)
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready", prom)
        time.sleep(4)  # a few scrapes and evaluations with every target up
        assert pages.read_text() == "", "nothing pages while everything is up"

        targets[0].close()
        down_at = time.monotonic()
        paged = wait_pages(pages, 1)
        took = time.monotonic() - down_at

        # Then the beat lock goes unheld: the remaining app server reports 0.
        targets[1].text = "surge_beat_active 0\n"
        beat_down_at = time.monotonic()
        beat_paged = wait_pages(pages, 2)
        beat_took = time.monotonic() - beat_down_at
    finally:
        for t in targets[1:]:
            t.close()

    assert [(p["alertname"], p["instance"], p["status"]) for p in paged] == [
        ("SurgeWebInstanceDown", f"127.0.0.1:{web1}", "firing")
    ]
    assert paged[0]["annotations"]["runbook"] == "deploy/runbooks/rolling-deploy.md"
    assert [(p["alertname"], p["severity"], p["status"]) for p in beat_paged[1:]] == [
        ("SurgeBeatNotRunning", "critical", "firing")
    ]
    print(f"pages arrived {took:.1f}s after the app server went down, {beat_took:.1f}s after the beat lock was lost")
