"""The harness works end to end: `python -m loadtest.bench --quick` boots its own stack (fresh
database, gunicorn in production settings), runs the bare view and a cached read against its
baseline (mounted by loadtest.settings_bench), and writes the table and the JSON. No timing
assertions: this box's speed is not what is tested."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module(name: str, *args: str, timeout: float = 110) -> subprocess.CompletedProcess:
    """`python -m name args...` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", name, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.timeout(120)
def test_quick_bench_prints_the_table_and_writes_json_and_plot(tmp_path):
    proc = _module(
        "loadtest.bench", "--quick", "--scenario", "bare,me", "--no-profile",
        "--duration", "1.5", "--db-name", "surge_bench_quick", "--redis-db", "6", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "req/s" in proc.stdout and "bare-auth" in proc.stdout
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 1
    assert files[0].with_suffix(".png").exists()
    doc = json.loads(files[0].read_text())
    by_key = {(r["scenario"], r["name"]): r for r in doc["results"]}
    assert {
        ("bare", "bare"),
        ("bare", "bare-auth"),
        ("bare", "bare-redis"),
        ("me", "cached"),
        ("me", "nocache"),
    } <= set(by_key)
    for key in (("bare", "bare"), ("bare", "bare-auth"), ("bare", "bare-redis")):
        r = by_key[key]
        assert r["requests"] > 0 and r["failures"] == 0
        assert r["server_requests"] > 0 and r["web_cpu_ms_per_req"] > 0
    assert by_key[("bare", "bare")]["sql_per_req"] == 0
    # The one-round-trip yardstick: one Redis command per request, counted by the server.
    assert by_key[("bare", "bare-redis")]["sql_per_req"] == 0
    assert by_key[("bare", "bare-redis")]["redis_per_req"] == pytest.approx(1.0, abs=0.05)
    for key in (("me", "cached"), ("me", "nocache")):
        r = by_key[key]
        # Skipped only while the user-center endpoints are not mounted.
        assert r.get("skipped") or (r["requests"] > 0 and r["failures"] == 0)
    assert doc["invariants_broken"] == []
    assert doc["machine"]["nproc"] >= 1


@pytest.mark.timeout(200)
def test_validation_windows_at_each_worker_count_and_a_drained_backlog_feed_the_capacity_check(tmp_path):
    proc = _module(
        "loadtest.bench", "--quick", "--scenario", "grab", "--no-profile", "--duration", "1",
        "--validate-workers", "1,2", "--db-name", "surge_bench_validate", "--redis-db", "9", "--out", str(tmp_path),
        timeout=190,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = sorted(tmp_path.glob("*.json"))
    doc = json.loads(path.read_text())
    windows = doc["validation"]["workers"]
    assert [(w["validates"], w["gunicorn_workers"]) for w in windows] == [
        ("bare.bare-redis", 1), ("grab.surge", 1), ("bare.bare-redis", 2), ("grab.surge", 2),
    ]  # fmt: skip
    assert all(w["rps"] > 0 and w["failures"] == 0 and w["invariants_broken"] == [] for w in windows)
    drain = doc["validation"]["drain"]
    # The whole storm was queued with no consumer, then every row of it drained.
    assert drain["backlog_rows"] > 0 and drain["drained_rows"] == drain["backlog_rows"]
    assert drain["rows_per_s"] > 0
    assert doc["invariants_broken"] == []
    check = _module("loadtest.capacity", str(path), "--validate")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "grab.surge, 2 worker(s): predicted" in check.stdout and "backlog" in check.stdout
