#!/usr/bin/env python
"""`make run`: the web server (gunicorn), a Celery worker and beat, under honcho.

Ctrl-C stops all three cleanly (honcho sends SIGTERM and waits). The stores keep running for
the next `make run`; `make stop` stops them.
"""

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIND = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")


def port_free(bind: str) -> bool:
    host, _, port = bind.rpartition(":")
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host or "127.0.0.1", int(port))) != 0


def main() -> int:
    os.chdir(ROOT)
    if not port_free(BIND):
        print(f"run: {BIND} is already in use (another `make run`?). Stop it or set GUNICORN_BIND.", file=sys.stderr)
        return 1
    url = f"http://{BIND}"
    print(
        "\n"
        "  Surge is starting (web, worker, beat). Ctrl-C stops them.\n\n"
        f"  Site         {url}/\n"
        f"  Admin        {url}/admin/        login: admin / admin-pass-123\n"
        f"  Demo user    {url}/login/        login: demo / demo-pass-123\n"
        f"  API schema   {url}/api/schema/\n"
        f"  Health       {url}/readyz   Metrics {url}/metrics\n",
        flush=True,
    )
    venv_bin = str(Path(sys.executable).parent)
    os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    os.execvp(
        str(Path(venv_bin) / "honcho"),
        ["honcho", "start", "-f", "deploy/Procfile.dev", "-d", str(ROOT)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
