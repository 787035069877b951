"""`make run` (deploy/run.py) for real: the site comes up, a process that dies is started again
instead of taking the whole local site down, and Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from project.testing import ROOT, child_env, free_port, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _children(pid: int) -> dict[int, str]:
    """Direct children of `pid`: {pid: command line}."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                out[int(stat.parent.name)] = cmdline
        except (OSError, IndexError, ValueError):
            continue
    return out


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as res:  # noqa: S310 - loopback
            return res.status == 200
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str, log: Path):
    return wait_until(predicate, timeout, what, log=log)


def _web_master(run_pid: int) -> int | None:
    return next((p for p, cmd in _children(run_pid).items() if "gunicorn" in cmd), None)


def test_make_run_restarts_a_process_that_dies_and_ctrl_c_stops_them_all(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    env = child_env(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=1, SURGE_RUN_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "run.py")],
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 - outlives this call
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(lambda: _healthy(url), 60, "the site", log)
        names = " ".join(_children(proc.pid).values())
        assert "gunicorn" in names and "worker" in names and "beat" in names, names
        # One process dies hard: it is started again, the others keep running.
        first = _web_master(proc.pid)
        worker_pids = {p for p, cmd in _children(proc.pid).items() if "worker" in cmd}
        os.kill(first, signal.SIGKILL)
        _wait(lambda: (_web_master(proc.pid) or first) != first and _healthy(url), 30, "the web server back", log)
        assert worker_pids <= set(_children(proc.pid)), "the worker was restarted too"
        assert proc.poll() is None
        # Ctrl-C: everything it started stops, and so does it.
        started = set(_children(proc.pid))
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=40)
        assert not any(Path(f"/proc/{p}").exists() for p in started), started
        assert not _healthy(url)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
