"""The last errors, for the control room: a logging handler (ERROR and above) that keeps the
newest entries of every process in one capped Redis list. Imported by the logging config, so
nothing Django is imported here at module level."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

ERRORS_KEY = "controlroom:errors"
# The newest this many errors are kept: enough for "what just went wrong", a few kB of Redis.
KEEP = 50
# After Redis failed to take an entry, the handler stays quiet this long, so a Redis outage
# does not add a timeout to every error line the app logs meanwhile.
BACKOFF_SECONDS = 10.0

_local = threading.local()
_off_until = 0.0


class RecentErrorsHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        global _off_until
        if getattr(_local, "busy", False) or time.monotonic() < _off_until:
            return  # an error logged while storing one (redis-py's own), or Redis just failed
        _local.busy = True
        try:
            from project.redis import get_redis

            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            entry = json.dumps(
                {
                    "at": round(record.created, 3),
                    "level": record.levelname,
                    "logger": record.name,
                    "message": message[:1000],
                    "process": f"{socket.gethostname()}:{os.getpid()}",
                }
            )
            pipe = get_redis().pipeline(transaction=False)
            pipe.lpush(ERRORS_KEY, entry)
            pipe.ltrim(ERRORS_KEY, 0, KEEP - 1)
            pipe.execute()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            _off_until = time.monotonic() + BACKOFF_SECONDS
        finally:
            _local.busy = False


def recent(limit: int = 20) -> list[dict]:
    from project.redis import get_redis

    out = []
    for raw in get_redis().lrange(ERRORS_KEY, 0, limit - 1):
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out
