"""`make test`: the whole suite in two tiers that run side by side.

The failover drills (marker `ha`) spend most of their time waiting for a store to fail over,
so they run beside the main suite on a dev stack of their own (`.devstack-ha`: its own
PostgreSQL pair, Redis and ports), which also keeps their stops and kills away from the main
suite's stores. The main tier streams to the terminal; the drill tier writes its log to
`.devstack-ha/pytest.log`, reports progress every minute and prints its summary (its whole
log when it fails) at the end. With PYTEST_ARGS set, only that one pytest run happens, on the
main stack, as before.

After the drills the same tier runs the hot paths' tests (marker `hotpath`) twice more: on a
Redis Sentinel group and on a Redis Cluster (SURGE_TEST_REDIS_MODE), each on a dev stack of its
own (`.devstack-sentinel`, `.devstack-cluster`) that is started before its run and stopped after
it. `--redis-modes` runs just those two, streaming to the terminal (`make test-redis-modes`).

    python deploy/testrun.py [pytest args ...]
    python deploy/testrun.py --redis-modes
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HA_DIR = ROOT / ".devstack-ha"
PROGRESS_EVERY_SECONDS = 60


@dataclass
class Tier:
    name: str
    runs: list[tuple[str, list[str], dict[str, str]]]  # (label, pytest args, extra env)
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None  # None: stream to the terminal


def _stack_base(stack_dir: Path) -> int | None:
    ports = stack_dir / "ports.json"
    return int(json.loads(ports.read_text())["base"]) if ports.exists() else None


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _drill_port_base() -> str:
    """The drill stack's block: remembered once chosen, else the first free one that is not the
    main stack's (which may be down yet remembered)."""
    remembered = _stack_base(HA_DIR)
    if remembered is not None:
        return str(remembered)
    main = _stack_base(Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack"))) or 25430
    # The next whole block: the main tier's tests take ports up to main + 99 (nginx, Prometheus).
    for base in range(main + 100, 32400, 100):
        if all(_free(base + off) for off in (2, 3, 9, *range(20, 26))):
            return str(base)
    sys.exit("testrun: no free block of loopback ports for the drill stack")


REDIS_MODES = ("sentinel", "cluster")
# The offsets a Sentinel or Cluster dev stack uses (PostgreSQL pair, Redis, replicas and
# sentinels, cluster nodes and their bus ports): see deploy/devstack.py.
MODE_STACK_OFFSETS = (2, 3, 9, *range(10, 15), *range(50, 59), *range(60, 69))


def mode_dir(mode: str) -> Path:
    return ROOT / f".devstack-{mode}"


def _mode_port_base(mode: str) -> str:
    """A mode stack's block: remembered once chosen, else the first free one past the main and
    drill stacks' blocks. The two mode runs are sequential, so they may share one."""
    main = _stack_base(Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack"))) or 25430
    taken = {main, _stack_base(HA_DIR) or int(_drill_port_base())}
    remembered = _stack_base(mode_dir(mode))
    if remembered is not None and remembered not in taken:
        return str(remembered)
    if remembered is not None:
        # Its block is another stack's now; the stack only lives for its run (and PostgreSQL's
        # data folders hold their ports), so it is made anew elsewhere.
        shutil.rmtree(mode_dir(mode))
    for base in range(main + 200, 32400, 100):
        if base not in taken and all(_free(base + off) for off in MODE_STACK_OFFSETS):
            return str(base)
    sys.exit(f"testrun: no free block of loopback ports for the {mode} stack")


def mode_runs() -> list[tuple[str, list[str], dict[str, str]]]:
    """The hot-path subset once per Redis HA mode; a run's port block is picked when it starts."""
    return [
        (
            f"hotpath-{mode}",
            ["-m", "hotpath and not ha"],
            {"SURGE_DEVSTACK_DIR": str(mode_dir(mode)), "SURGE_TEST_REDIS_MODE": mode},
        )
        for mode in REDIS_MODES
    ]


def tiers() -> list[Tier]:
    ha_env = {"SURGE_DEVSTACK_DIR": str(HA_DIR), "SURGE_DEVSTACK_PORT_BASE": _drill_port_base()}
    return [
        Tier("main", [("main", ["-m", "not ha"], {})]),
        Tier("ha", [("drills", ["-m", "ha"], {}), *mode_runs()], env=ha_env, log=HA_DIR / "pytest.log"),
    ]


def mode_tiers() -> list[Tier]:
    return [Tier("redis-modes", mode_runs())]


def _pytest(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def _last_progress(log: Path) -> str:
    try:
        tail = log.read_bytes()[-4000:].decode(errors="replace")
    except FileNotFoundError:
        return "starting"
    found = re.findall(r"\[\s*(\d+)%\]", tail)
    return f"{found[-1]}%" if found else "starting"


class Runner:
    def __init__(self, tiers: list[Tier]):
        self.tiers = tiers
        self.procs: dict[str, subprocess.Popen] = {}
        self.results: dict[str, list[tuple[str, int]]] = {t.name: [] for t in tiers}
        self.pending: dict[str, list] = {t.name: list(t.runs) for t in tiers}
        self.current: dict[str, str] = {}
        self.current_env: dict[str, dict[str, str]] = {}
        self.run_started: dict[str, float] = {}
        self.started = time.monotonic()

    def _env(self, tier: Tier, extra: dict[str, str]) -> dict[str, str]:
        return {**os.environ, **tier.env, **extra}

    def _mode_stack(self, tier: Tier, extra: dict[str, str], action: str) -> bool:
        """Start (or stop) the dev stack of a Redis-mode run; False when it did not start."""
        mode = extra.get("SURGE_TEST_REDIS_MODE")
        if not mode:
            return True
        if action == "up" and "SURGE_DEVSTACK_PORT_BASE" not in extra:
            extra["SURGE_DEVSTACK_PORT_BASE"] = _mode_port_base(mode)
        cmd = [sys.executable, "deploy/devstack.py", action, *(["--redis", mode] if action == "up" else [])]
        res = subprocess.run(cmd, cwd=ROOT, env=self._env(tier, extra), capture_output=True, text=True)
        if res.returncode != 0:
            print(f"[{tier.name}] the {mode} dev stack: `{shlex.join(cmd[1:])}` failed:\n{res.stdout}{res.stderr}")
            if action == "up":  # what did start must not hold the ports the next run needs
                self._mode_stack(tier, extra, "down")
        return res.returncode == 0

    def _start_next(self, tier: Tier) -> bool:
        if not self.pending[tier.name]:
            return False
        label, args, extra = self.pending[tier.name].pop(0)
        extra = dict(extra)
        self.current_env[tier.name] = extra
        if not self._mode_stack(tier, extra, "up"):
            self.results[tier.name].append((label, 3))
            return self._start_next(tier)
        cmd = _pytest(args)
        out = None
        if tier.log is not None:
            tier.log.parent.mkdir(parents=True, exist_ok=True)
            out = open(tier.log, "a")  # noqa: SIM115  the child holds it; closed with the process
            out.write(f"\n===== {label}: {shlex.join(cmd)}\n")
            out.flush()
            print(f"[{tier.name}] {label}: started (log: {tier.log.relative_to(ROOT)})", flush=True)
        self.procs[tier.name] = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self._env(tier, extra),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        self.current[tier.name] = label
        self.run_started[tier.name] = time.monotonic()
        return True

    def prepare(self) -> None:
        for tier in self.tiers:
            if tier.log is None:
                continue
            tier.log.unlink(missing_ok=True)
            env = self._env(tier, {})
            up = subprocess.run([sys.executable, "deploy/devstack.py", "up"], cwd=ROOT, env=env)
            if up.returncode != 0:
                sys.exit(f"[{tier.name}] its dev stack did not start")

    def run(self) -> int:
        self.prepare()
        for tier in self.tiers:
            self._start_next(tier)
        last_note = time.monotonic()
        while self.procs:
            time.sleep(1)
            for tier in self.tiers:
                proc = self.procs.get(tier.name)
                if proc is None or proc.poll() is None:
                    continue
                label = self.current[tier.name]
                self.results[tier.name].append((label, proc.returncode))
                del self.procs[tier.name]
                self._report(tier, label, proc.returncode)
                self._mode_stack(tier, self.current_env[tier.name], "down")
                self._start_next(tier)
            if time.monotonic() - last_note >= PROGRESS_EVERY_SECONDS:
                last_note = time.monotonic()
                for tier in self.tiers:
                    if tier.log is not None and tier.name in self.procs:
                        print(f"[{tier.name}] {self.current[tier.name]}: {_last_progress(tier.log)}", flush=True)
        return self._summary()

    def _report(self, tier: Tier, label: str, code: int) -> None:
        took = (time.monotonic() - self.run_started[tier.name]) / 60
        if tier.log is None:
            print(f"[{tier.name}] {label}: {'passed' if code == 0 else f'FAILED (exit {code})'} in {took:.1f} min")
            return
        text = tier.log.read_text(errors="replace")
        section = text.rsplit("\n===== ", 1)[-1]
        lines = section.splitlines()
        shown = lines if code != 0 else [ln for ln in lines[-40:] if ln.startswith(("SKIPPED", "XFAIL", "="))]
        print(
            f"[{tier.name}] {label}: {'passed' if code == 0 else f'FAILED (exit {code})'} in {took:.1f} min", flush=True
        )
        for line in shown:
            print(f"[{tier.name}] {line}")
        sys.stdout.flush()

    def _summary(self) -> int:
        minutes = (time.monotonic() - self.started) / 60
        failed = [(t, label, code) for t, runs in self.results.items() for label, code in runs if code != 0]
        for tier, label, code in failed:
            print(f"FAILED: tier {tier}, {label} (exit {code})")
        print(f"all tiers {'passed' if not failed else 'done, with failures'} in {minutes:.1f} min")
        return 1 if failed else 0

    def stop(self, *_):
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for tier in self.tiers:
            if tier.name in self.procs:
                self._mode_stack(tier, self.current_env[tier.name], "down")
        sys.exit(130)


def main(argv: list[str]) -> int:
    if argv == ["--redis-modes"]:
        runner = Runner(mode_tiers())
    elif argv:
        return subprocess.call(_pytest(argv), cwd=ROOT)
    else:
        runner = Runner(tiers())
    signal.signal(signal.SIGINT, runner.stop)
    signal.signal(signal.SIGTERM, runner.stop)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
