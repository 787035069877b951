"""Writes of the user center. Every function takes keyword arguments; other apps call these."""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction

from project.celery import app as celery_app
from project.redis import RedisUnavailable, get_redis
from project.sql import int_array
from staticgen import services as staticgen_services
from usercenter import registry
from usercenter.auth import hash_token, make_token
from usercenter.keys import HOME_REBUILD_INFO_KEY, HOME_REBUILD_PENDING_KEY, user_hash_key, user_hash_wallet_mark_key
from usercenter.models import ApiToken, Profile, Wallet

# The hash store's writes are the user center's services too: other apps call them from here.
from usercenter.userhash import USER_HASH_TTL_SECONDS as USER_HASH_TTL_SECONDS
from usercenter.userhash import user_hash_drop as user_hash_drop
from usercenter.userhash import user_hash_forget as user_hash_forget
from usercenter.userhash import user_hash_forget_many as user_hash_forget_many
from usercenter.userhash import user_hash_write as user_hash_write
from usercenter.userhash import user_hash_write_many as user_hash_write_many

logger = logging.getLogger(__name__)

HOME_REBUILD_TASK = "usercenter.tasks.home_rebuild"

USERNAME_MAX = 150


def user_register(*, username: str, password: str, email: str = ""):
    """Create a user (and everything a user owns from day one). Raises ValidationError."""
    user_model = get_user_model()
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["This field is required."]
    elif len(username) > USERNAME_MAX:
        errors["username"] = [f"At most {USERNAME_MAX} characters."]
    else:
        try:
            user_model.username_validator(username)
        except ValidationError as exc:
            errors["username"] = list(exc.messages)
    if not errors:
        try:
            password_validation.validate_password(password, user_model(username=username))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic(using="default"):
            user = user_model.objects.create_user(username=username, password=password, email=email)
            _user_created(user=user)
    except IntegrityError as exc:
        raise ValidationError({"username": ["A user with that username already exists."]}) from exc
    return user


def _user_created(*, user) -> None:
    """The rows every user owns from day one."""
    Profile.objects.create(user=user)
    Wallet.objects.create(user=user)


def token_issue(*, user_id: int, name: str = "") -> str:
    """A new signed bearer token for the user (see usercenter.auth); only its hash is stored."""
    raw = make_token(user_id)
    ApiToken.objects.create(user_id=user_id, key_hash=hash_token(raw), name=name[:100])
    return raw


def token_revoke(*, raw: str) -> bool:
    """Revoke one token. Deleting its row records the revocation (usercenter.auth), so every
    process refuses it within AUTH_REVOCATION_CHECK_SECONDS. False if it was not known."""
    deleted, _ = ApiToken.objects.filter(key_hash=hash_token(raw)).delete()
    return bool(deleted)


def tokens_revoke_for_user(*, user_id: int) -> int:
    """Revoke every token of a user (lost device, compromised account). Returns how many."""
    _total, per_model = ApiToken.objects.filter(user_id=user_id).delete()
    return per_model.get(ApiToken._meta.label, 0)


# ---------------------------------------------------------------- the per-user hash


def user_fields_invalidate_many(*, user_ids, group: str) -> None:
    """Drop one app's field group (see usercenter.registry) from the users' cached hashes, after
    that app's write commits: the next read refills just that group from the app's loader. An
    HDEL is idempotent and order-free, so a late drop can never put an old value back. Raises
    UnknownFieldGroup for a group nobody registered."""
    user_hash_forget_many(user_ids=user_ids, fields=list(registry.field_group(group).fields))


def user_fields_invalidate(*, user_id: int, group: str) -> None:
    user_fields_invalidate_many(user_ids=[user_id], group=group)


def user_fields(*, group: str) -> tuple[str, ...]:
    """The hash fields of a group, for a writer that drops them inside a batched refresh."""
    return registry.field_group(group).fields


# ---------------------------------------------------------------- wallet and ledger

_LEDGER_INSERT = """
INSERT INTO usercenter_ledgerentry (user_id, kind, amount_cents, points, reference, memo, created_at)
SELECT u, k, a, p, r, m, now()
  FROM unnest(%s::int[], %s::varchar[], %s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[]) AS d(u, k, a, p, r, m)
ON CONFLICT (kind, reference) DO NOTHING
RETURNING user_id, amount_cents, points
"""
_WALLET_UPDATE = """
UPDATE usercenter_wallet AS w
   SET balance_cents = w.balance_cents + d.amount, points = w.points + d.points,
       version = w.version + 1, updated_at = now()
  FROM (SELECT unnest(%s::bigint[]) AS user_id, unnest(%s::bigint[]) AS amount,
               unnest(%s::bigint[]) AS points) AS d
 WHERE w.user_id = d.user_id
RETURNING w.user_id, w.balance_cents, w.points, w.version
"""


def wallet_credit(
    *, user_id: int, kind: str, reference: str, amount_cents: int = 0, points: int = 0, memo: str = ""
) -> bool:
    """Credit money and/or points once per (kind, reference). Returns False for a replay.
    Joins the caller's transaction when there is one."""
    applied = wallet_credit_batch(
        entries=[
            {
                "user_id": user_id,
                "kind": kind,
                "reference": reference,
                "amount_cents": amount_cents,
                "points": points,
                "memo": memo,
            }
        ]
    )
    return bool(applied)


def wallet_credit_batch(*, entries: list[dict], forget_fields=()) -> list[dict]:
    """Apply many credits in one transaction: ledger rows with ON CONFLICT DO NOTHING, then one
    UPDATE of the wallets of the rows actually inserted (replays change nothing). Wallet rows
    are locked in user-id order first, so concurrent batches cannot deadlock. After commit the
    cached hashes get the new balances, and lose `forget_fields` (fields the caller's own write
    changed: every entry's user, credited or not) in the same script call. Returns the entries
    applied, with new balances."""
    if not entries:
        return []
    for e in entries:
        if int(e.get("amount_cents", 0)) < 0 or int(e.get("points", 0)) < 0:
            raise ValueError("credits are never negative")
    user_ids = sorted({int(e["user_id"]) for e in entries})
    with transaction.atomic(using="default"):
        cursor = connections["default"].cursor()
        # Wallets are made at sign-up; one missing (an older account, deleted by hand) is made
        # here, before any row is locked: inserts and locks each go in user-id order, so two
        # batches never wait on each other in opposite orders.
        ids = int_array(user_ids)
        cursor.execute("SELECT count(*) FROM usercenter_wallet WHERE user_id = ANY(%s::bigint[])", [ids])
        if cursor.fetchone()[0] < len(user_ids):
            cursor.execute(
                "INSERT INTO usercenter_wallet (user_id, balance_cents, points, version, updated_at) "
                "SELECT unnest(%s::bigint[]), 0, 0, 0, now() ON CONFLICT (user_id) DO NOTHING",
                [ids],
            )
        cursor.execute(
            "SELECT user_id FROM usercenter_wallet WHERE user_id = ANY(%s::bigint[]) ORDER BY user_id FOR UPDATE", [ids]
        )
        columns: tuple[list, ...] = ([], [], [], [], [], [])
        for e in entries:
            columns[0].append(int(e["user_id"]))
            columns[1].append(e["kind"])
            columns[2].append(int(e.get("amount_cents", 0)))
            columns[3].append(int(e.get("points", 0)))
            columns[4].append(str(e["reference"])[:100])
            columns[5].append(str(e.get("memo", ""))[:200])
        cursor.execute(
            _LEDGER_INSERT,
            [int_array(columns[0]), columns[1], int_array(columns[2]), int_array(columns[3]), columns[4], columns[5]],
        )
        inserted = cursor.fetchall()
        wallets: dict[int, tuple[int, int, int]] = {}
        if inserted:
            totals: dict[int, list[int]] = {}
            for uid, amount, pts in inserted:
                t = totals.setdefault(uid, [0, 0])
                t[0] += amount
                t[1] += pts
            uids = sorted(totals)
            cursor.execute(
                _WALLET_UPDATE,
                [int_array(uids), int_array(totals[u][0] for u in uids), int_array(totals[u][1] for u in uids)],
            )
            wallets = {uid: (balance, pts, version) for uid, balance, pts, version in cursor.fetchall()}
        forget = tuple(forget_fields)

        def refresh():
            writes = [
                {
                    "user_id": uid,
                    "fields": {"balance_cents": balance, "points": pts, "wallet_version": version},
                    "wallet_version": version,
                    "forget": forget,
                }
                for uid, (balance, pts, version) in wallets.items()
            ]
            if forget:
                writes += [{"user_id": uid, "forget": forget} for uid in user_ids if uid not in wallets]
            user_hash_write_many(writes=writes)

        if wallets or forget:
            transaction.on_commit(refresh, using="default")
    return [
        {
            "user_id": uid,
            "amount_cents": amount,
            "points": pts,
            "balance_cents": wallets[uid][0],
            "total_points": wallets[uid][1],
        }
        for uid, amount, pts in inserted
    ]


# ---------------------------------------------------------------- profile

PROFILE_FIELDS = ("nickname", "avatar", "bio")


# The avatar addresses accepted (also the API schema's pattern): http(s), a host name with a
# dot, an optional path. A subset of what URLField accepts, so the two rules agree.
AVATAR_PATTERN = (
    r"^(https?://[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,24}(/[A-Za-z0-9._~%/-]*)?)?$"
)


def profile_update(*, user_id: int, **changes) -> dict:
    """Change profile fields (nickname, avatar, bio) on the primary; after commit the cached
    hash gets the new values, so the author's next read shows them. Raises ValidationError
    with a message per field."""
    unknown = sorted(set(changes) - set(PROFILE_FIELDS))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in unknown})
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = ["Must be text."]
            continue
        value = value.strip()
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in value) or (name != "bio" and "\n" in value):
            errors[name] = ["Control characters are not allowed."]
            continue
        try:
            cleaned[name] = Profile._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            errors[name] = list(exc.messages)
            continue
        if name == "avatar" and value and not re.fullmatch(AVATAR_PATTERN, value):
            errors[name] = ["Use an http(s) address."]
    if errors:
        raise ValidationError(errors)
    if not cleaned:
        return {}
    with transaction.atomic(using="default"):
        profile, _ = Profile.objects.select_for_update().get_or_create(user_id=user_id)
        for name, value in cleaned.items():
            setattr(profile, name, value)
        profile.save(update_fields=[*cleaned, "updated_at"])
        transaction.on_commit(lambda: user_hash_write(user_id=user_id, fields=cleaned), using="default")
    return cleaned


# ---------------------------------------------------------------- the home document


def home_rebuild_debounce_seconds() -> int:
    return int(settings.HOME_REBUILD_DEBOUNCE_SECONDS)


def home_rebuild_schedule() -> None:
    """Something on the home page changed (a product, an announcement): rebuild the document
    once, a few seconds from now, however many saves arrive meanwhile. Runs after commit, so
    the rebuild sees the change. The orders app calls this after a product save."""

    def schedule():
        window = home_rebuild_debounce_seconds()
        try:
            # The key lives longer than the countdown: a busy worker running the task late
            # still gets no duplicate; the task deletes it before it reads the database.
            if get_redis().set(HOME_REBUILD_PENDING_KEY, 1, nx=True, ex=window * 3 + 5):
                # By name: the task module imports this one, never the other way round.
                celery_app.send_task(HOME_REBUILD_TASK, countdown=window)
        except RedisUnavailable:
            logger.warning("home rebuild not scheduled: Redis unavailable (the document expires on its own)")

    transaction.on_commit(schedule, using="default")


def home_rebuild(*, scheduled: bool = False) -> dict:
    """Rebuild the home document now, under the cache's single-flight lock (so it never runs
    beside a reader's refresh), and store it in Redis (L2). Other processes' L1 copies expire
    within seconds. Raises RedisUnavailable."""
    from usercenter import selectors

    client = get_redis()
    if scheduled:
        # Saves after this point schedule a new rebuild; saves before it are in what we read.
        client.delete(HOME_REBUILD_PENDING_KEY)
    document = selectors.home_cache.rebuild(selectors.HOME_KEY, selectors.home_document_build)
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(HOME_REBUILD_INFO_KEY, "count", 1)
    pipe.hset(
        HOME_REBUILD_INFO_KEY,
        mapping={"version": document["version"], "at": document["generated_at"], "by": "task" if scheduled else "now"},
    )
    pipe.execute()
    _home_republish()
    return document


def _home_republish() -> None:
    """Ask staticgen to republish home.json from the new document (debounced on its side)."""
    staticgen_services.publish_schedule(["home.json"])


def announcement_changed() -> None:
    """An announcement was saved or deleted (admin): schedule the debounced home rebuild."""
    home_rebuild_schedule()


# ---------------------------------------------------------------- ops


def user_cache_clear(*, user_id: int) -> list[str]:
    """Drop what Redis caches about one user (sessions stay: nobody is logged out). Every
    piece is refilled from the database on the next read. Returns what was dropped."""
    from usercenter.auth import invalidate_user

    dropped = []
    client = get_redis()
    removed = client.delete(user_hash_key(user_id), user_hash_wallet_mark_key(user_id))
    dropped.append(f"{user_hash_key(user_id)} ({removed} key(s))")
    invalidate_user(user_id)
    dropped.append("cached user row")
    for group in registry.field_groups():
        if group.clear is not None:
            label, clear = group.clear
            clear(user_id)
            dropped.append(label)
    return dropped
