#!/usr/bin/env python3
"""The pager stand-in: Alertmanager's webhook receiver that records each page as a JSON line.

    deploy/alertmanager/webhook.py --port 9095 --out /var/log/surge/pages.jsonl

Alertmanager POSTs a group of alerts (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config);
every alert in it becomes one line in --out:

    {"received": 1764770000.12, "status": "firing", "alertname": "SurgeRedisDown",
     "severity": "critical", "instance": "...", "startsAt": "...", "labels": {...}, "annotations": {...}}

`GET /` answers the number of pages recorded (a health check). Standard library only, so it runs
on the monitoring host without the app's virtualenv. The drill and deploy/tests/test_alerting.py
read the file to see which alert paged and when.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def page_lines(payload: dict, received: float) -> list[str]:
    """One JSON line per alert of an Alertmanager webhook payload."""
    lines = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        lines.append(
            json.dumps(
                {
                    "received": round(received, 3),
                    "status": alert.get("status", payload.get("status")),
                    "alertname": labels.get("alertname"),
                    "severity": labels.get("severity"),
                    "instance": labels.get("instance"),
                    "startsAt": alert.get("startsAt"),
                    "labels": labels,
                    "annotations": alert.get("annotations", {}),
                },
                sort_keys=True,
            )
        )
    return lines


def make_server(host: str, port: int, out: Path) -> ThreadingHTTPServer:
    lock = threading.Lock()
    count = {"pages": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self.send_error(400, "body is not JSON")
                return
            lines = page_lines(payload, time.time())
            # One writer at a time so concurrent groups never interleave half lines.
            with lock, out.open("a") as f:
                f.writelines(line + "\n" for line in lines)
                count["pages"] += len(lines)
            self._answer(200, {"recorded": len(lines)})

        def do_GET(self):  # noqa: N802 - http.server's naming
            self._answer(200, {"pages": count["pages"]})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9095, help="port to listen on (default 9095)")
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file each page is appended to")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.touch()
    server = make_server(args.host, args.port, args.out)
    # SIGTERM (systemd, the drill's teardown) stops the loop like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"webhook: recording pages to {args.out} on http://{args.host}:{args.port}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
