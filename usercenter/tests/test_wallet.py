import pytest
from django.db import connections

from project.redis import get_redis
from project.testing import in_threads
from usercenter import services
from usercenter.models import LedgerEntry, Wallet
from usercenter.services import user_hash_key


@pytest.mark.django_db
def test_registration_gives_a_profile_and_an_empty_wallet(user):
    wallet = Wallet.objects.get(user=user)
    assert (wallet.balance_cents, wallet.points) == (0, 0)
    assert user.profile.nickname == ""


@pytest.mark.django_db
def test_the_same_credit_applied_twice_changes_the_balance_once(user):
    assert services.wallet_credit(user_id=user.pk, kind="adjustment", reference="gift-1", amount_cents=500) is True
    assert services.wallet_credit(user_id=user.pk, kind="adjustment", reference="gift-1", amount_cents=500) is False
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance_cents == 500
    assert LedgerEntry.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_negative_credits_are_refused(user):
    with pytest.raises(ValueError):
        services.wallet_credit(user_id=user.pk, kind="adjustment", reference="x", amount_cents=-1)


@pytest.mark.django_db
def test_batch_applies_only_new_entries_and_sums_per_user(make_user):
    a, b = make_user("a1"), make_user("b1")
    services.wallet_credit(user_id=a.pk, kind="redpacket_grab", reference="p1:a", amount_cents=10)
    applied = services.wallet_credit_batch(
        entries=[
            {"user_id": a.pk, "kind": "redpacket_grab", "reference": "p1:a", "amount_cents": 10},  # replay
            {"user_id": a.pk, "kind": "redpacket_grab", "reference": "p2:a", "amount_cents": 7},
            {"user_id": b.pk, "kind": "redpacket_grab", "reference": "p2:b", "amount_cents": 3, "points": 2},
        ]
    )
    assert len(applied) == 2
    assert Wallet.objects.get(user=a).balance_cents == 17
    assert (Wallet.objects.get(user=b).balance_cents, Wallet.objects.get(user=b).points) == (3, 2)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_the_same_users_neither_deadlock_nor_double_pay(make_user):
    users = [make_user(f"c{i}") for i in range(20)]

    def run(seed):
        order = users[seed % 2 :: 1] if seed % 2 else list(reversed(users))
        for u in order:
            services.wallet_credit_batch(
                entries=[
                    {"user_id": v.pk, "kind": "adjustment", "reference": f"r{v.pk}-{u.pk}", "amount_cents": 1}
                    for v in order
                ]
            )

    errors = in_threads(run, 6)
    assert not errors, errors
    # Each (v, u) reference is paid once, whatever thread got there first.
    total = sum(Wallet.objects.filter(user__in=users).values_list("balance_cents", flat=True))
    assert total == LedgerEntry.objects.filter(kind="adjustment").count()
    assert LedgerEntry.objects.filter(kind="adjustment").count() <= 20 * 20


@pytest.mark.django_db(transaction=True)
def test_a_credit_refreshes_an_existing_cached_hash_after_commit(user):
    services.user_hash_write(
        user_id=user.pk, fields={"balance_cents": 0, "points": 0, "wallet_version": 0}, mode="fill"
    )
    services.wallet_credit(user_id=user.pk, kind="adjustment", reference="g", amount_cents=250, points=3)
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert cached[b"balance_cents"] == b"250" and cached[b"points"] == b"3"


@pytest.mark.django_db(transaction=True)
def test_an_older_wallet_refresh_never_overwrites_a_newer_one(user):
    services.user_hash_write(
        user_id=user.pk, fields={"balance_cents": 900, "wallet_version": 9}, mode="fill", wallet_version=9
    )
    services.user_hash_write(
        user_id=user.pk, fields={"balance_cents": 100, "wallet_version": 3, "nickname": "n"}, wallet_version=3
    )
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert cached[b"balance_cents"] == b"900" and cached[b"nickname"] == b"n"


@pytest.mark.django_db
def test_update_mode_does_not_create_a_hash(user):
    services.user_hash_write(user_id=user.pk, fields={"streak": 3})
    assert not get_redis().exists(user_hash_key(user.pk))


@pytest.mark.django_db(transaction=True)
def test_a_batch_credit_refreshes_every_cached_hash(make_user):
    users = [make_user(f"h{i}") for i in range(5)]
    for u in users:
        services.user_hash_write(user_id=u.pk, fields={"balance_cents": 0, "wallet_version": 0}, mode="fill")
    services.wallet_credit_batch(
        entries=[{"user_id": u.pk, "kind": "adjustment", "reference": f"b{u.pk}", "amount_cents": 7} for u in users]
    )
    for u in users:
        assert get_redis().hget(user_hash_key(u.pk), "balance_cents") == b"7"


@pytest.mark.django_db(transaction=True)
def test_forget_fields_drop_from_every_entry_users_hash_credited_or_replayed(make_user):
    credited, replayed, uncached = make_user("f1"), make_user("f2"), make_user("f3")
    services.wallet_credit(user_id=replayed.pk, kind="redpacket_grab", reference="rp:1:r", amount_cents=5)
    for u in (credited, replayed):
        services.user_hash_write(
            user_id=u.pk, fields={"balance_cents": 0, "grabs_count": 4, "nickname": "n"}, mode="fill"
        )
    services.wallet_credit_batch(
        entries=[
            {"user_id": credited.pk, "kind": "redpacket_grab", "reference": "rp:1:c", "amount_cents": 9},
            {"user_id": replayed.pk, "kind": "redpacket_grab", "reference": "rp:1:r", "amount_cents": 5},
            {"user_id": uncached.pk, "kind": "redpacket_grab", "reference": "rp:1:u", "amount_cents": 2},
        ],
        forget_fields=["grabs_count"],
    )
    client = get_redis()
    cached = client.hgetall(user_hash_key(credited.pk))
    assert cached[b"balance_cents"] == b"9" and b"grabs_count" not in cached and cached[b"nickname"] == b"n"
    # A replay changed no balance, but the caller's own write (a re-inserted row) may have.
    cached = client.hgetall(user_hash_key(replayed.pk))
    assert b"grabs_count" not in cached and cached[b"nickname"] == b"n"
    # Forgetting never creates a hash.
    assert not client.exists(user_hash_key(uncached.pk))


@pytest.mark.django_db(transaction=True)
def test_a_user_without_a_wallet_row_gets_one_on_the_first_credit(make_user):
    u = make_user("nowallet")
    Wallet.objects.filter(user=u).delete()
    applied = services.wallet_credit_batch(
        entries=[{"user_id": u.pk, "kind": "adjustment", "reference": "w1", "amount_cents": 11}]
    )
    assert applied[0]["balance_cents"] == 11
    assert Wallet.objects.get(user=u).balance_cents == 11


@pytest.mark.django_db
def test_wallet_pages_keep_room_for_in_place_updates():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'usercenter_wallet'")
        assert "fillfactor=70" in (cursor.fetchone()[0] or [])


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_replays_still_drops_the_forgotten_fields(user):
    services.wallet_credit(user_id=user.pk, kind="redpacket_grab", reference="rp:9:x", amount_cents=5)
    services.user_hash_write(user_id=user.pk, fields={"grabs_count": 1, "nickname": "n"}, mode="fill")
    applied = services.wallet_credit_batch(
        entries=[{"user_id": user.pk, "kind": "redpacket_grab", "reference": "rp:9:x", "amount_cents": 5}],
        forget_fields=["grabs_count"],
    )
    assert applied == []
    cached = get_redis().hgetall(user_hash_key(user.pk))
    assert b"grabs_count" not in cached and cached[b"nickname"] == b"n"


@pytest.mark.django_db(transaction=True)
def test_a_hash_redis_refuses_to_update_is_dropped_not_left_stale(make_user):
    broken, fine = make_user("wt1"), make_user("wt2")
    get_redis().set(user_hash_key(broken.pk), "not a hash")  # WRONGTYPE for the script's HGET
    services.user_hash_write(user_id=fine.pk, fields={"balance_cents": 0, "wallet_version": 0}, mode="fill")
    services.wallet_credit_batch(
        entries=[
            {"user_id": u.pk, "kind": "adjustment", "reference": f"wt{u.pk}", "amount_cents": 3} for u in (broken, fine)
        ]
    )
    assert not get_redis().exists(user_hash_key(broken.pk))
    assert get_redis().hget(user_hash_key(fine.pk), "balance_cents") == b"3"


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_users_without_wallets_neither_deadlock_nor_lose_credits(make_user):
    users = [make_user(f"nw{i}") for i in range(12)]
    Wallet.objects.filter(user__in=users).delete()

    def run(seed):
        order = users if seed % 2 else list(reversed(users))
        for round_ in range(3):
            services.wallet_credit_batch(
                entries=[
                    {"user_id": u.pk, "kind": "adjustment", "reference": f"nw{seed}-{round_}-{u.pk}", "amount_cents": 1}
                    for u in order
                ]
            )

    errors = in_threads(run, 6)
    assert not errors, errors
    assert sorted(Wallet.objects.filter(user__in=users).values_list("balance_cents", flat=True)) == [18] * 12
