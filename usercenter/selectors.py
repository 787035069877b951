"""Reads of the user center: the per-user Redis hash (`/api/me/`), the ledger, and the shared
home document behind the two-level cache."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from project import db_router
from project.cache import TwoLevelCache
from project.redis import RedisUnavailable, get_redis, hot_command
from usercenter import registry, userhash
from usercenter.keys import user_hash_key
from usercenter.models import Announcement, LedgerEntry, Wallet

logger = logging.getLogger(__name__)


def wallet_get(*, user_id: int) -> dict:
    """Balance and points from the database (the router picks replica or primary)."""
    row = Wallet.objects.filter(user_id=user_id).values("balance_cents", "points", "version").first()
    return row or {"balance_cents": 0, "points": 0, "version": 0}


# ---------------------------------------------------------------- the per-user hash

# TTL of a filled hash; the jitter spreads the expiry of hashes filled in the same rush.
USER_HASH_TTL_SECONDS = settings.USER_HASH_TTL_SECONDS
USER_HASH_TTL_JITTER = 0.2


# Every field `/api/me/` shows: each belongs to a registered group (system check usercenter.E001).
ME_FIELDS = (
    "username",
    "nickname",
    "avatar",
    "bio",
    "balance_cents",
    "points",
    "wallet_version",
    "streak",
    "signed_today",
    "orders_count",
    "grabs_count",
    "grabs_total_cents",
)
ACCOUNT_FIELDS = ("username", "nickname", "avatar", "bio", "balance_cents", "points", "wallet_version")


class UserNotFound(Exception):
    pass


def account_fields(*, user_id: int) -> dict:
    """The user center's own field group: profile and wallet."""
    # One query: the user row joined with its profile and wallet (both one-to-one).
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .values(
            "username",
            "profile__nickname",
            "profile__avatar",
            "profile__bio",
            "wallet__balance_cents",
            "wallet__points",
            "wallet__version",
        )
        .first()
    )
    if row is None:
        raise UserNotFound(user_id)
    return {
        "username": row["username"],
        "nickname": row["profile__nickname"] or "",
        "avatar": row["profile__avatar"] or "",
        "bio": row["profile__bio"] or "",
        "balance_cents": row["wallet__balance_cents"] or 0,
        "points": row["wallet__points"] or 0,
        "wallet_version": row["wallet__version"] or 0,
    }


def _load_groups(user_id: int, groups) -> tuple[dict, int | None]:
    """The fields of `groups` from their owners' loaders, and the wallet version they carry."""
    fields: dict = {}
    for group in groups:
        fields.update(group.load(user_id=user_id))
    return fields, fields.get("wallet_version")


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _me_out(user_id: int, h: dict) -> dict:
    """The `/api/me/` document from the hash's strings (or freshly loaded values)."""
    today = timezone.localdate()
    try:
        last = dt.date.fromisoformat(str(h.get("signed_today") or ""))
    except ValueError:
        last = None
    alive = last is not None and (today - last).days in (0, 1)
    username = str(h.get("username") or "")
    nickname = str(h.get("nickname") or "")
    return {
        "id": user_id,
        "username": username,
        "nickname": nickname,
        "display_name": nickname or username,
        "avatar": str(h.get("avatar") or ""),
        "bio": str(h.get("bio") or ""),
        "balance_cents": _int(h.get("balance_cents")),
        "points": _int(h.get("points")),
        "streak": _int(h.get("streak")) if alive else 0,
        "signed_today": last == today,
        "orders_count": _int(h.get("orders_count")),
        "grabs_count": _int(h.get("grabs_count")),
        "grabs_total_cents": _int(h.get("grabs_total_cents")),
    }


def _hash_ttl() -> int:
    return int(USER_HASH_TTL_SECONDS * (1 + random.uniform(0, USER_HASH_TTL_JITTER)))


def user_hash_get(*, user_id: int) -> dict[str, str]:
    """The user's cached hash, complete: one HGETALL on a hit (zero SQL); a miss fills it from
    the database (replica, or primary right after this client's write), a partial hash gets
    just its missing groups. Raises UserNotFound; RedisUnavailable propagates."""
    raw = hot_command("HGETALL", user_hash_key(user_id))
    if isinstance(raw, list):  # RESP2 sends a flat list of fields and values; RESP3 a map
        raw = dict(zip(raw[::2], raw[1::2], strict=True))
    h = {k.decode(): v.decode() for k, v in raw.items()}
    missing = [g for g in registry.field_groups() if any(n not in h for n in g.fields)]
    if not missing:
        return h
    with db_router.reading_for(user_id) as seen_position:
        fields, version = _load_groups(user_id, missing)
    # Update (not fill) a partial hash: if it expired meanwhile, the next read fills it whole.
    userhash.user_hash_write(
        user_id=user_id,
        fields=fields,
        mode="update" if h else "fill",
        wallet_version=version,
        ttl=_hash_ttl(),
        seen_position=seen_position,
    )
    h.update({k: str(v) for k, v in fields.items()})
    return h


def me_get(*, user_id: int) -> dict:
    """`GET /api/me/`: cache-first; Redis down: from the database. Raises UserNotFound."""
    try:
        return _me_out(user_id, user_hash_get(user_id=user_id))
    except RedisUnavailable:
        logger.warning("user center of %s read from the database: Redis unavailable", user_id)
        return me_from_db(user_id=user_id)


def me_from_db(*, user_id: int) -> dict:
    """The same document straight from the database (the Redis-down path)."""
    fields, _ = _load_groups(user_id, registry.field_groups())
    return _me_out(user_id, fields)


def nav_name(*, user_id: int, username: str) -> str:
    """What the navigation calls the user: the nickname when set. One HMGET on a hit."""
    try:
        nickname, cached_username = get_redis().hmget(user_hash_key(user_id), "nickname", "username")
        if cached_username is not None and nickname is not None:
            return nickname.decode() or username
        return me_get(user_id=user_id)["display_name"] or username
    except (*RedisUnavailable, UserNotFound):
        return username


# ---------------------------------------------------------------- the ledger

LEDGER_PAGE_SIZE = 20
LEDGER_MAX_PAGE = 10_000  # deeper offsets are a scan nobody needs; ask for an export instead


class PageNotFound(Exception):
    pass


def ledger_page(*, user_id: int, page: int, page_size: int = LEDGER_PAGE_SIZE) -> dict:
    """Page N of the user's ledger, newest first, from the database (index user, -created_at).
    Raises PageNotFound past the end (page 1 of an empty ledger is an empty page)."""
    offset = (page - 1) * page_size
    rows = list(
        LedgerEntry.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values("id", "kind", "amount_cents", "points", "reference", "memo", "created_at")[
            offset : offset + page_size + 1
        ]
    )
    if page > 1 and not rows:
        raise PageNotFound(f"Page {page} is past the end of your ledger.")
    labels = dict(LedgerEntry.Kind.choices)
    return {
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
        "results": [
            {
                **r,
                "kind_label": labels.get(r["kind"], r["kind"]),
                "created_at": timezone.localtime(r["created_at"]).isoformat(),
            }
            for r in rows[:page_size]
        ],
    }


# ---------------------------------------------------------------- the home document

HOME_KEY = "doc"
HOME_PRODUCTS = 20
# The lists other apps supply to the home document (usercenter.registry.register_home_section).
HOME_SECTIONS = ("products",)
# L1 a few seconds (an admin edit shows within that long on every process); after the soft
# expiry one caller rebuilds while the others serve the stale copy.
home_cache = TwoLevelCache(
    "home",
    l1_seconds=settings.HOME_L1_SECONDS,
    soft_seconds=settings.HOME_SOFT_SECONDS,
    hard_seconds=settings.HOME_HARD_SECONDS,
    lock_seconds=30,
    wait_seconds=3.0,
)


def _announcement_dict(a: dict) -> dict:
    return {
        "id": a["id"],
        "title": a["title"],
        "body": a["body"],
        "starts_at": timezone.localtime(a["starts_at"]).isoformat() if a["starts_at"] else None,
        "ends_at": timezone.localtime(a["ends_at"]).isoformat() if a["ends_at"] else None,
    }


def announcements_active(*, now: dt.datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    rows = (
        Announcement.objects.filter(is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("sort_order", "-starts_at", "id")
        .values("id", "title", "body", "starts_at", "ends_at")
    )
    return [_announcement_dict(a) for a in rows]


def home_document_build() -> dict:
    """The shared home document from the database. Its shape is `/api/home/` and the CDN's
    `home.json`: {version, generated_at, products, announcements}. `version` (milliseconds
    since the epoch of the build that first produced this content) only grows, so a page can
    tell a stale CDN copy from a fresh one."""
    document = home_document_fresh()
    previous = _home_document_stored()
    if previous is not None and all(previous.get(k) == document[k] for k in ("products", "announcements")):
        # Same content: keep its version, so the soft-expiry rebuilds every few seconds neither
        # make the CDN's home.json look stale to the page nor differ from it byte for byte.
        return previous
    return document


def home_document_fresh() -> dict:
    """A new document from the database, nothing cached."""
    now = timezone.now()
    return {
        "version": int(time.time() * 1000),
        "generated_at": timezone.localtime(now).isoformat(),
        "products": list(registry.home_section("products")(limit=HOME_PRODUCTS)),
        "announcements": announcements_active(now=now),
    }


def _home_document_stored() -> dict | None:
    """The document currently in Redis (also when soft-expired), or None."""
    try:
        return home_cache.peek(HOME_KEY)
    except RedisUnavailable:
        return None


def home_document() -> dict:
    """L1 (this process, seconds) -> L2 (Redis) -> the database behind a single-flight lock."""
    return home_cache.get_or_compute(HOME_KEY, home_document_build)


_rendered_lock = threading.Lock()
_rendered: tuple[int | None, str] = (None, "")


def home_document_json() -> str:
    """`home_document()` serialized, reusing the text while the version is unchanged: an L1 hit
    then costs neither Redis nor a json.dumps of twenty products."""
    global _rendered
    doc = home_document()
    version, text = _rendered
    if version != doc["version"]:
        text = json.dumps(doc, separators=(",", ":"))
        with _rendered_lock:
            _rendered = (doc["version"], text)
    return text
