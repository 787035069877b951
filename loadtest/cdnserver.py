"""A tiny WSGI static file server for the CDN stand-in when nginx is not installed:
`gunicorn loadtest.cdnserver:app` with BENCH_CDN_ROOT set. It serves `/cdn/<path>` from that
folder, keeps files in memory and rereads one when its mtime changes (staticgen replaces
files atomically). No Django: this is what serving a pre-rendered file costs in Python."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_CDN_ROOT", ".")).resolve()
TYPES = {".json": "application/json", ".html": "text/html; charset=utf-8", ".xml": "application/xml"}
_files: dict[str, tuple[float, bytes]] = {}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/cdn/"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    target = (ROOT / path[len("/cdn/") :]).resolve()
    if ROOT not in target.parents or not target.is_file():
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    mtime = target.stat().st_mtime
    cached = _files.get(str(target))
    if cached is None or cached[0] != mtime:
        cached = (mtime, target.read_bytes())
        _files[str(target)] = cached
    body = cached[1]
    headers = [
        ("Content-Type", TYPES.get(target.suffix, "application/octet-stream")),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "public, max-age=30"),
    ]
    start_response("200 OK", headers)
    return [body]
