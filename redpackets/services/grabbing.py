"""The grab (hot path): one Lua call takes a share and queues the grab; no SQL."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cachetools import TTLCache
from django.conf import settings
from django.utils import timezone

from redpackets import keys
from redpackets.models import Campaign
from redpackets.services.sale import RED_PACKET_SALE

GRAB_SCRIPT = Path(__file__).parent.parent / "lua" / "grab.lua"
# Per user and packet: at most this many grab attempts per window (0 turns it off). A person
# clicks a few times a second at most; a script hammering the button gets 429 from inside the
# grab script itself, so the limit costs no extra Redis round trip.
GRAB_RATE_LIMIT = settings.REDPACKETS_GRAB_RATE_LIMIT
GRAB_RATE_WINDOW_MS = settings.REDPACKETS_GRAB_RATE_WINDOW_MS


@dataclass(frozen=True)
class GrabResult:
    status: int
    body: dict
    headers: dict | None = None


NOT_STARTED = "This red packet has not opened yet."
ENDED = "This red packet has ended."
SOLD_OUT = "All shares of this red packet are gone."
ALREADY = "You already grabbed this red packet."
UNKNOWN = "No such red packet."
RELOADING = "This red packet is being reloaded; retry in a moment."
UNCONFIRMED = "Your grab is being confirmed; retry in a moment to see it."
RELOAD_RETRY_AFTER_SECONDS = 2
THROTTLED = "Too many attempts; slow down."


def grab(*, user_id: int, campaign_id: int) -> GrabResult:
    """One Lua call, no SQL. Raises RedisUnavailable (the view answers 503)."""
    now_ms = int(time.time() * 1000)
    (code, value, _kick), replicated = RED_PACKET_SALE.gate(
        GRAB_SCRIPT,
        keys=keys.grab_keys(campaign_id, user_id),
        args=[user_id, now_ms, campaign_id, GRAB_RATE_LIMIT, GRAB_RATE_WINDOW_MS],
        woke_at=2,
    )
    if code == 0:
        if not replicated:
            # Taken on the master, not yet on a replica: a failover now could lose it, so no 200
            # yet. A retry answers 409 with the amount once it is safe (or grabs again if lost).
            return GrabResult(503, {"detail": UNCONFIRMED, "packet_id": campaign_id}, {"Retry-After": "1"})
        return GrabResult(200, {"amount_cents": value, "packet_id": campaign_id})
    if code == 4:
        return GrabResult(409, {"detail": ALREADY, "amount_cents": value, "packet_id": campaign_id})
    if code == 5:
        return GrabResult(410, {"detail": SOLD_OUT, "reason": "sold_out", "packet_id": campaign_id})
    if code == 3:
        return GrabResult(410, {"detail": ENDED, "reason": "ended", "packet_id": campaign_id})
    if code == 2:
        starts = datetime.fromtimestamp(value / 1000, tz=UTC).isoformat()
        return GrabResult(425, {"detail": NOT_STARTED, "starts_at": starts, "packet_id": campaign_id})
    if code == 6:
        retry = max(1, (int(value) + 999) // 1000)
        return GrabResult(429, {"detail": THROTTLED, "retry_after_ms": int(value)}, {"Retry-After": str(retry)})
    if _open_in_database(campaign_id):
        # Redis lost it (a restart without data, a failover to a replica that was behind): it is
        # reloaded from the database within seconds; meanwhile a retry, not a 404.
        _request_reload(campaign_id)
        return GrabResult(
            503, {"detail": RELOADING, "packet_id": campaign_id}, {"Retry-After": str(RELOAD_RETRY_AFTER_SECONDS)}
        )
    return GrabResult(404, {"detail": UNKNOWN})


# Per process: which campaigns the database says are open, for a few seconds, so a storm on a
# packet Redis lost (or on ids that do not exist) costs the database one query per process.
_open_cache: TTLCache = TTLCache(maxsize=10_000, ttl=2.0)
_open_cache_lock = threading.Lock()


def _open_in_database(campaign_id: int) -> bool:
    with _open_cache_lock:
        known = _open_cache.get(campaign_id)
    if known is None:
        known = Campaign.objects.filter(
            pk=campaign_id, status=Campaign.Status.OPEN, ends_at__gt=timezone.now()
        ).exists()
        with _open_cache_lock:
            _open_cache[campaign_id] = known
    return known


def _request_reload(campaign_id: int) -> None:
    """Ask a worker to reload the campaign now (once per few seconds whoever asks); the beat
    task `reload_missing` does it anyway."""
    from redpackets.tasks import reload_campaign  # the tasks module imports the services

    RED_PACKET_SALE.request_reload(campaign_id, task=reload_campaign, lock_seconds=RELOAD_RETRY_AFTER_SECONDS * 2)
