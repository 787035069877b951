"""What the harness reads from the server side: /metrics counters and process CPU times.
(No Locust import here: the runner uses these too, and Locust monkey-patches on import.)"""

from __future__ import annotations

import re
import sys
import urllib.request

import psutil

_LINE = re.compile(r"^(surge_http_(?:requests|sql_queries|redis_commands)_total)\{([^}]*)\}\s+([0-9.eE+-]+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> dict:
    """{"requests": {(view, status): n}, "sql": {view: n}, "redis": {view: n}} from /metrics."""
    out: dict = {"requests": {}, "sql": {}, "redis": {}}
    try:
        with urllib.request.urlopen(url, timeout=10) as res:  # noqa: S310 - loopback
            text = res.read().decode()
    except OSError as exc:
        print(f"drive: scrape of {url} failed: {exc}", file=sys.stderr)
        return out
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(_LABEL.findall(m.group(2))), float(m.group(3))
        view = labels.get("view", "")
        if name == "surge_http_requests_total":
            out["requests"][f"{view}|{labels.get('status', '')}"] = value
        elif name == "surge_http_sql_queries_total":
            out["sql"][view] = value
        else:
            out["redis"][view] = value
    return out


def cpu_snapshot(pids: list[int], with_children: bool = False) -> dict[int, float]:
    """CPU seconds (user + system) per process. Take `expand()`ed pids: each process counts its
    own time only. A parent's "reaped children" time (with_children) is the whole life of a child
    that exited, not its share of the window: a PostgreSQL connection that gunicorn closes after
    CONN_MAX_AGE lands its minutes of work in whatever window it closes in (seen: 6.6 s of the
    naive grab's backends billed to the next variant's 12 s). A process that exits inside the
    window loses its in-window time instead, which is small (connections are long-lived)."""
    snap: dict[int, float] = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total = t.user + t.system
        if with_children:
            total += getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        snap[pid] = total
    return snap


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    # A process born inside the window counts from zero; one that died is lost (rare).
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def expand(pids: list[int]) -> list[int]:
    """The given processes and all their descendants, now."""
    out: list[int] = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            out += [pid, *(c.pid for c in p.children(recursive=True))]
        except psutil.Error:
            continue
    return sorted(set(out))
