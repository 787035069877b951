"""The short drill (`make drill-short`): the whole topology in network namespaces, four faults
under a storm through nginx (an app host's gunicorn, a worker's Celery, the PostgreSQL leader and
the Redis master, each SIGKILLed), and after each: the invariants hold on the database and the
alert meant for the fault paged through Alertmanager to the webhook receiver.

Skipped only when this machine cannot make network namespaces (not root, no `ip`); a missing
program of the topology (nginx, etcd, PostgreSQL, Redis, Prometheus, Alertmanager) fails it,
because `.ci/run` installs them. It brings up its own stores: nothing of the dev stack is used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(DEPLOY))

import drill  # noqa: E402  (deploy/ is not a package)

pytestmark = [pytest.mark.ha, pytest.mark.timeout(1200)]

# Topology up (~1-3 min, most of it migrations) plus four faults of ~30-60 s each on 2 shared cores.
DRILL_TIMEOUT_SECONDS = 1100


def test_short_drill_keeps_the_invariants_and_pages_each_fault(tmp_path):
    # given a machine that can make network namespaces
    reason = drill.netns_missing()
    if reason:
        pytest.skip(f"the drill needs network namespaces: {reason}")
    missing = drill.tools_missing()
    assert not missing, missing
    table = tmp_path / "DRILL.md"

    # when the short drill runs (it tears everything down itself, also when it fails)
    try:
        res = subprocess.run(
            [sys.executable, str(DEPLOY / "drill.py"), "run", "--short", "--out", str(table)],
            capture_output=True,
            text=True,
            timeout=DRILL_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        # A timeout SIGKILLs the drill before its own teardown: clean up by name.
        subprocess.run([sys.executable, str(DEPLOY / "drill.py"), "down"], capture_output=True, check=False)

    # then every fault healed, paged its alert and left the invariants intact
    assert table.exists(), res.stdout[-4000:] + res.stderr[-4000:]
    rows = json.loads((drill.DRILL_DIR / "run" / "results.json").read_text())
    assert len(rows) == 4, table.read_text()
    for row in rows:
        assert row["invariants"]["ok"], (row["fault"], row["invariants"]["problems"])
        assert row["recover_s"] is not None, f"{row['fault']} did not heal"
        assert row["alert_after_s"] is not None, f"{row['fault']}: {row['alert_expected']} did not page"
        assert row["requests"] > 0, f"{row['fault']}: the storm sent nothing"
    assert res.returncode == 0, res.stdout[-4000:]
    # and nothing of it is left behind
    assert not [
        n
        for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        if n.startswith(drill.PREFIX)
    ]
