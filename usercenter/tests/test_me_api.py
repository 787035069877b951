import pytest

from project.redis import get_redis
from project.testing import CaptureAll
from usercenter import selectors, services
from usercenter.services import user_hash_key

pytestmark = pytest.mark.django_db


def test_anonymous_is_401_json(client):
    res = client.get("/api/me/")
    assert res.status_code == 401 and res.json()["detail"]


def test_first_read_fills_the_hash_with_profile_wallet_and_counts(auth_client, user):
    services.profile_update(user_id=user.pk, nickname="Ali")
    services.wallet_credit(user_id=user.pk, kind="adjustment", reference="w1", amount_cents=250, points=7)
    body = auth_client.get("/api/me/").json()
    assert body["id"] == user.pk and body["username"] == "alice"
    assert (body["nickname"], body["display_name"]) == ("Ali", "Ali")
    assert (body["balance_cents"], body["points"]) == (250, 7)
    assert body["streak"] == 0 and body["signed_today"] is False
    for field in ("orders_count", "grabs_count", "grabs_total_cents"):
        assert body[field] == 0
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert cached[b"nickname"] == b"Ali" and cached[b"balance_cents"] == b"250"
    ttl = get_redis().ttl(user_hash_key(user.pk))
    assert services.USER_HASH_TTL_SECONDS <= ttl <= services.USER_HASH_TTL_SECONDS * 1.2 + 1


def test_session_read_on_a_cache_hit_runs_zero_sql(auth_client):
    assert auth_client.get("/api/me/").status_code == 200  # fills the hash, session and user caches
    with CaptureAll() as q:
        res = auth_client.get("/api/me/")
    assert res.status_code == 200
    assert q.count == 0, q.queries


def test_token_read_on_a_cache_hit_runs_zero_sql(client, user, token_for):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}
    assert client.get("/api/me/", **headers).status_code == 200
    with CaptureAll() as q:
        assert client.get("/api/me/", **headers).json()["username"] == "alice"
    assert q.count == 0, q.queries


def test_forgotten_fields_are_refilled_alone(auth_client, user):
    auth_client.get("/api/me/")
    get_redis().hset(user_hash_key(user.pk), "nickname", "kept-from-cache")
    services.user_hash_forget(user_id=user.pk, fields=["orders_count"])
    with CaptureAll() as q:
        body = auth_client.get("/api/me/").json()
    # Only the orders group was read again (one COUNT); the account fields stayed cached.
    assert body["nickname"] == "kept-from-cache"
    assert q.count == 1 and "orders_order" in q.queries[0]["sql"]
    assert get_redis().hexists(user_hash_key(user.pk), "orders_count")


@pytest.mark.django_db(transaction=True)
def test_profile_edit_is_visible_on_the_next_read_and_only_in_the_authors_hash(auth_client, client, make_user):
    bob = make_user("bob")
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob, backend="usercenter.auth.CachedUserBackend")
    assert auth_client.get("/api/me/").json()["nickname"] == ""
    assert bob_client.get("/api/me/").json()["nickname"] == ""

    res = auth_client.patch("/api/me/", {"nickname": "Queen A", "bio": "hi"}, content_type="application/json")
    assert res.status_code == 200 and res.json()["nickname"] == "Queen A"

    with CaptureAll() as q:
        assert auth_client.get("/api/me/").json()["nickname"] == "Queen A"
    assert q.count == 0  # the hash was refreshed after commit, not dropped
    assert bob_client.get("/api/me/").json()["nickname"] == ""
    assert get_redis().hget(user_hash_key(bob.pk), "nickname") == b""


@pytest.mark.django_db(transaction=True)
def test_profile_edit_with_a_cold_hash_reads_the_primary(auth_client, user):
    res = auth_client.patch("/api/me/", {"nickname": "Cold"}, content_type="application/json")
    assert res.status_code == 200
    # The write pinned this client to the primary for a few seconds (read-your-writes cookie).
    assert auth_client.cookies.get("surge_rw") is not None
    services.user_hash_drop(user_id=user.pk)
    assert auth_client.get("/api/me/").json()["nickname"] == "Cold"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"nickname": "x" * 41}, "nickname"),
        ({"avatar": "not a url"}, "avatar"),
        ({"avatar": "ftp://example.com/a.png"}, "avatar"),
        ({"bio": "b" * 501}, "bio"),
        ({"nickname": 5}, "nickname"),
        ({"nickname": "bad\u0000name"}, "nickname"),
        ({"balance_cents": 10**9}, "balance_cents"),
    ],
)
def test_invalid_profile_fields_are_400_with_field_messages(auth_client, payload, field):
    res = auth_client.patch("/api/me/", payload, content_type="application/json")
    assert res.status_code == 400
    assert field in res.json() and res.json()[field]


def test_patch_with_a_non_object_body_is_400(auth_client):
    for body in ("[1, 2]", "{}", "not json"):
        res = auth_client.generic("PATCH", "/api/me/", body, content_type="application/json")
        assert res.status_code == 400 and res.json()["detail"]


def test_other_methods_are_405(auth_client):
    assert auth_client.post("/api/me/", {}, content_type="application/json").status_code == 405


def test_ledger_pages_newest_first(auth_client, user):
    services.wallet_credit_batch(
        entries=[
            {"user_id": user.pk, "kind": "adjustment", "reference": f"l{i}", "amount_cents": i + 1}
            for i in range(selectors.LEDGER_PAGE_SIZE + 3)
        ]
    )
    page1 = auth_client.get("/api/me/ledger/").json()
    assert page1["has_next"] is True and len(page1["results"]) == selectors.LEDGER_PAGE_SIZE
    assert page1["results"][0]["kind_label"] == "Manual adjustment"
    page2 = auth_client.get("/api/me/ledger/?page=2").json()
    assert page2["has_next"] is False and len(page2["results"]) == 3
    ids = [r["id"] for r in page1["results"] + page2["results"]]
    assert ids == sorted(ids, reverse=True)
    assert auth_client.get("/api/me/ledger/?page=3").status_code == 404


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "99999999"])
def test_ledger_bad_page_is_400(auth_client, page):
    res = auth_client.get(f"/api/me/ledger/?page={page}")
    assert res.status_code == 400 and "page" in res.json()["detail"]


def test_ledger_is_private_to_its_owner(auth_client, make_user):
    bob = make_user("bob")
    services.wallet_credit(user_id=bob.pk, kind="adjustment", reference="bob-only", amount_cents=5)
    assert auth_client.get("/api/me/ledger/").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_replayed_credit_shows_once_in_the_cached_balance(auth_client, user):
    auth_client.get("/api/me/")
    for _ in range(3):
        services.wallet_credit(user_id=user.pk, kind="redpacket_grab", reference="p9:alice", amount_cents=88)
    assert auth_client.get("/api/me/").json()["balance_cents"] == 88


@pytest.mark.django_db(transaction=True)
def test_a_fill_older_than_a_skipped_credit_refresh_writes_no_balance(user):
    # A credit commits while the hash is missing (its refresh is skipped) ...
    services.wallet_credit(user_id=user.pk, kind="adjustment", reference="race", amount_cents=500)
    # ... then a fill that read the wallet before that commit arrives with the old version.
    services.user_hash_write(
        user_id=user.pk, fields={"balance_cents": 0, "wallet_version": 0, "nickname": ""}, mode="fill", wallet_version=0
    )
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert b"balance_cents" not in cached and cached[b"nickname"] == b""
    # The next read refills the missing wallet fields from the database.
    assert selectors.me_get(user_id=user.pk)["balance_cents"] == 500


def test_signin_date_in_the_hash_keeps_streak_right_after_midnight(user):
    import datetime as dt

    from django.utils import timezone

    today = timezone.localdate()
    services.user_hash_write(
        user_id=user.pk,
        fields={"streak": 4, "signed_today": (today - dt.timedelta(days=1)).isoformat()},
        mode="fill",
    )
    me = selectors.me_get(user_id=user.pk)
    assert (me["streak"], me["signed_today"]) == (4, False)  # alive: signed in yesterday
    services.user_hash_write(user_id=user.pk, fields={"signed_today": (today - dt.timedelta(days=2)).isoformat()})
    assert selectors.me_get(user_id=user.pk)["streak"] == 0  # broken
    services.user_hash_write(user_id=user.pk, fields={"signed_today": today.isoformat(), "streak": 5})
    assert (selectors.me_get(user_id=user.pk)["signed_today"], selectors.me_get(user_id=user.pk)["streak"]) == (
        True,
        5,
    )
