"""Locust users for every scenario variant, built from the manifest the runner writes.

The runner (`python -m loadtest.bench`) boots the stack, seeds users and campaigns, and writes
`manifest.json` (path in LOADTEST_MANIFEST): one entry per variant, e.g.

    "grab.surge": {"method": "POST", "targets": ["/api/redpackets/7/grab/", ...],
                   "tokens": [...], "order": "pairs", "expect": [200, 409, 410]}

Each entry becomes a FastHttpUser class named like the variant (dots -> underscores), so the
same file drives the headless runs (`loadtest/drive.py`) and the web UI (`make loadtest-ui`,
pick the classes in the UI). Users run closed-loop (no wait time): N users = N requests in
flight, which is what a storm is.

Request order:
- `pairs`: request i goes to target (i // len(tokens)) with token (i % len(tokens)): every
  user hits the first packet/product once, then the next one, ... (a storm per target in
  turn, each (user, target) pair once until the list wraps around).
- `random`: a random target (weighted by `weights`), tokens in turn.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter

from locust import FastHttpUser, constant, task

MANIFEST_PATH = os.environ.get("LOADTEST_MANIFEST", "")

# Status codes seen, per variant: "all" since the start (invariant checks need every 200), and
# "window" since the driver's measurement began (the table's status breakdown).
STATUS_ALL: dict[str, Counter] = {}
STATUS_WINDOW: dict[str, Counter] = {}


def reset_window() -> None:
    for c in STATUS_WINDOW.values():
        c.clear()


def load_manifest() -> dict:
    if not MANIFEST_PATH or not os.path.exists(MANIFEST_PATH):
        return {"variants": {}}
    with open(MANIFEST_PATH) as f:
        return json.load(f)


class VariantUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    # Connection reuse as a browser would; gunicorn's sync workers close after each answer.
    insecure = True
    network_timeout = 30.0
    connection_timeout = 10.0

    variant = ""
    spec: dict = {}
    _seq = None
    _prepared = None

    @classmethod
    def next_request(cls) -> tuple[str, str | None, int]:
        i = next(cls._seq)
        spec = cls.spec
        targets = spec["targets"]
        tokens = spec.get("tokens") or [None]
        token = tokens[i % len(tokens)]
        if spec.get("order") == "pairs":
            target = targets[(i // len(tokens)) % len(targets)]
        elif len(targets) == 1:
            target = targets[0]
        else:
            target = random.choices(targets, weights=spec.get("weights"))[0]
        return target, token, i

    @classmethod
    def prepared(cls):
        """Per-class constants, built once: the load generator shares the server's two cores,
        so every microsecond it spends per request is one the server does not get."""
        if cls._prepared is None:
            spec = cls.spec
            # "bodies": one body per request in turn (a log-in rush: each user's credentials).
            raw = spec.get("bodies") or ([spec["body"]] if spec.get("body") is not None else [])
            bodies = [json.dumps(b) for b in raw] or None
            base = {"Accept": "application/json"}
            if bodies:
                base["Content-Type"] = "application/json"
            headers = {}
            for token in spec.get("tokens") or [None]:
                h = dict(base)
                if token:
                    h["Authorization"] = f"Bearer {token}"
                headers[token] = h
            cls._prepared = (
                spec.get("method", "GET"),
                bodies,
                headers,
                frozenset(spec.get("expect") or [200]),
                spec.get("label", cls.variant),
                STATUS_ALL[cls.variant],
                STATUS_WINDOW[cls.variant],
            )
        return cls._prepared

    @task
    def hit(self):
        method, bodies, headers, expect, label, status_all, status_window = self.prepared()
        target, token, i = self.next_request()
        body = bodies[i % len(bodies)] if bodies else None
        with self.client.request(
            method, target, headers=headers[token], data=body, name=label, catch_response=True
        ) as res:
            code = res.status_code or 0
            status_all[code] += 1
            status_window[code] += 1
            if code in expect:
                res.success()
            else:
                text = (res.text or "")[:200] if code else str(res.error)[:200]
                res.failure(f"HTTP {code}: {text}")


def build_classes(manifest: dict) -> dict[str, type]:
    classes = {}
    for name, spec in manifest.get("variants", {}).items():
        cls_name = name.replace(".", "_").replace("-", "_")
        attrs = {
            "abstract": False,
            "variant": name,
            "spec": spec,
            "_seq": itertools.count(),
            "_prepared": None,
            "host": spec.get("host") or manifest.get("host"),
        }
        classes[cls_name] = type(cls_name, (VariantUser,), attrs)
        STATUS_ALL.setdefault(name, Counter())
        STATUS_WINDOW.setdefault(name, Counter())
    return classes


CLASSES = build_classes(load_manifest())
globals().update(CLASSES)
