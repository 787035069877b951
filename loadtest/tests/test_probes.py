"""The harness's CPU accounting: a window counts the CPU spent in it, not the whole life of a
process that happened to exit in it (a PostgreSQL connection closed by gunicorn's
CONN_MAX_AGE once billed minutes of earlier work to the next variant)."""

from __future__ import annotations

import subprocess
import sys
import time

from loadtest.probes import cpu_delta, cpu_snapshot, expand

# The parent starts a child that burns ~0.6 s of CPU, then waits; on a line on stdin it lets the
# child exit, reaps it and idles.
PARENT = r"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
    "print('burnt', flush=True)\nsys.stdin.readline()"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "burnt"
print(child.pid, flush=True)
sys.stdin.readline()
child.stdin.write("go\n"); child.stdin.flush(); child.wait()
print("reaped", flush=True)
time.sleep(30)
"""


def test_a_child_reaped_inside_the_window_does_not_bring_its_past_cpu():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        pids = expand([parent.pid])
        assert child_pid in pids
        before = cpu_snapshot(pids)
        assert before[child_pid] >= 0.5  # the child's CPU so far, spent before the window
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "reaped"
        time.sleep(0.1)
        after = cpu_snapshot(expand([parent.pid]))
        assert child_pid not in after
        # Only what the window itself used (the parent reaping, well under 0.2 s).
        assert cpu_delta(before, after) < 0.2
    finally:
        parent.kill()
        parent.wait()
