#!/usr/bin/env python
"""`make run`: the web server (gunicorn), a Celery worker and beat, under supervisord.

The processes are the lines of deploy/Procfile.dev. A process that exits (a worker that lost
Redis for too long, a crash) is started again after a moment instead of taking the whole local
site down, and its output goes to this terminal. Ctrl-C stops all three cleanly. The stores
keep running for the next `make run`; `make stop` stops them.
"""

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIND = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
STACK_DIR = Path(os.environ.get("SURGE_DEVSTACK_DIR", ROOT / ".devstack")).resolve()
# Where supervisord keeps its config, log and pid file (a test runs its own beside a `make run`).
RUN_DIR = Path(os.environ.get("SURGE_RUN_DIR", STACK_DIR)).resolve()


def port_free(bind: str) -> bool:
    host, _, port = bind.rpartition(":")
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host or "127.0.0.1", int(port))) != 0


def procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            entries.append((name.strip(), command.strip()))
    return entries


def supervisord_conf(processes: list[tuple[str, str]]) -> str:
    """supervisord in the foreground: every process restarted whenever it exits (after
    `startsecs` of life it counts as started, so a crash loop backs off instead of spinning), its
    output on our stdout, stopped (with its children) on Ctrl-C."""
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={RUN_DIR / 'supervisord.log'}",
        f"pidfile={RUN_DIR / 'supervisord.pid'}",
        f"directory={ROOT}",
        "",
    ]
    for name, command in processes:
        lines += [
            f"[program:{name}]",
            f"command={command.replace('%', '%%')}",  # supervisord expands %(name)s
            f"directory={ROOT}",
            'environment=PYTHONUNBUFFERED="1"',
            "autorestart=true",
            "startsecs=2",
            "startretries=1000000",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=20",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    os.chdir(ROOT)
    if not port_free(BIND):
        print(f"run: {BIND} is already in use (another `make run`?). Stop it or set GUNICORN_BIND.", file=sys.stderr)
        return 1
    url = f"http://{BIND}"
    # The terminal shows warnings and errors only: a line per request or per beat tick would bury them.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("GUNICORN_LOGLEVEL", "warning")
    print(
        "\n"
        "  Surge is starting (web, worker, beat). Ctrl-C stops them; one that exits is restarted.\n\n"
        f"  Site         {url}/\n"
        f"  Admin        {url}/admin/        login: admin / admin-pass-123\n"
        f"  Control room {url}/admin/controlroom/\n"
        f"  Demo user    {url}/login/        login: demo / demo-pass-123\n"
        f"  API schema   {url}/api/schema/\n"
        f"  Health       {url}/readyz   Metrics {url}/metrics\n\n"
        "  Below: the warnings and errors of the three processes.\n",
        flush=True,
    )
    venv_bin = str(Path(sys.executable).parent)
    os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")  # supervisord finds commands here
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    conf = RUN_DIR / "supervisord.conf"
    conf.write_text(supervisord_conf(procfile(ROOT / "deploy" / "Procfile.dev")))
    os.execv(str(Path(venv_bin) / "supervisord"), ["supervisord", "-c", str(conf)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
