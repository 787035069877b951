"""`manage.py queue ...` and `manage.py health` against the live stores: in process through
call_command, and as real `manage.py` processes whose exit codes scripts rely on."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from orders import keys, services
from orders.models import Order
from orders.tests.factories import make_flash_product
from project import cli
from project.queue import ReliableQueue, dead_letters, drain_all
from project.redis import get_redis
from project.testing import child_env
from project.tests.test_router import real_replica  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)

# A producer bug: an event that is not a JSON object. The drain sets it aside as a dead letter.
POISON = b"{not json"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args) -> tuple[int, str]:
    """(returncode, message) of a command expected to fail."""
    with pytest.raises(CommandError) as info:
        run(*args)
    return info.value.returncode, str(info.value)


def manage(*args, stdin=subprocess.DEVNULL, timeout=60, **env) -> subprocess.CompletedProcess:
    """`python manage.py ...` as an operator's script runs it, on this test run's stores."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(**env),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sale_with_dead_letters(make_user, *, poison: int = 2):
    """An open flash sale whose queue got one real buy and `poison` undecodable events, drained
    for real: the buy becomes an order, the poison goes to the dead-letter list."""
    product = make_flash_product(stock=10)
    services.flash_open(product_id=product.pk)
    services.flash_buy(user_id=make_user("buyer").pk, product_id=product.pk)
    queue_key = keys.flash_queue(product.pk)
    get_redis().rpush(queue_key, *[POISON] * poison)
    drain_all(time_budget=5, linger=0)
    assert Order.objects.filter(product=product).count() == 1
    assert dead_letters(queue_key)[0] == poison
    return product, queue_key


# ---------------------------------------------------------------- queue status


def test_queue_status_lists_every_registered_family_and_exits_0_when_clean():
    out = run("queue", "status")
    assert "orders.flash" in out and "redpackets.grabs" in out
    assert "dead letters" in out and "oldest wait" in out
    report = json.loads(run("queue", "status", "--json"))
    assert {f["family"] for f in report["families"]} >= {"orders.flash", "redpackets.grabs"}


def test_queue_status_shows_ready_events_and_how_long_the_oldest_waited(make_user):
    product = make_flash_product(stock=10)
    services.flash_open(product_id=product.pk)
    for name in ("w1", "w2", "w3"):
        services.flash_buy(user_id=make_user(name).pk, product_id=product.pk)
    time.sleep(0.3)
    flash = next(f for f in json.loads(run("queue", "status", "--json"))["families"] if f["family"] == "orders.flash")
    assert flash["depth"] == 3 and flash["in_flight"] == 0 and flash["dead_letters"] == 0
    assert 0.3 <= flash["oldest_age_seconds"] < 30


def test_dead_letters_from_a_failing_batch_make_status_exit_1_and_inspect_shows_them(make_user):
    product, queue_key = sale_with_dead_letters(make_user)
    code, message = fails("queue", "status")
    assert code == cli.EXIT_ATTENTION and "2 dead letter(s)" in message and queue_key in message
    for name in ("orders.flash", queue_key):
        out = run("queue", "inspect", name)
        assert queue_key in out and "dead letters: 2" in out and POISON.decode() in out
    shown = json.loads(run("queue", "inspect", queue_key, "--json", "--limit", "1"))
    assert shown[0]["dead_letters"] == 2 and shown[0]["dead_head"] == [POISON.decode()]


def test_inspect_of_an_unknown_queue_exits_2_and_lists_the_known_ones():
    code, message = fails("queue", "inspect", "no-such-queue")
    assert code == cli.EXIT_REFUSED
    assert "orders.flash" in message and "redpackets.grabs" in message


# ---------------------------------------------------------------- replay-dead


def test_replay_dead_without_a_terminal_and_without_yes_refuses_with_exit_2(make_user, monkeypatch):
    _product, queue_key = sale_with_dead_letters(make_user)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, message = fails("queue", "replay-dead", queue_key)
    assert code == cli.EXIT_REFUSED and "--yes" in message
    assert dead_letters(queue_key)[0] == 2  # nothing changed


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_replay_dead_on_a_terminal_asks_and_a_no_changes_nothing(make_user, monkeypatch):
    _product, queue_key = sale_with_dead_letters(make_user)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, _ = fails("queue", "replay-dead", queue_key)
    assert code == cli.EXIT_ATTENTION
    assert dead_letters(queue_key)[0] == 2
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert "2 dead letter(s) put back" in run("queue", "replay-dead", "orders.flash")
    assert dead_letters(queue_key)[0] == 0 and ReliableQueue(queue_key).depth() == 2


def test_replay_dead_yes_puts_them_back_and_the_next_drain_sets_them_aside_again(make_user):
    _product, queue_key = sale_with_dead_letters(make_user)
    out = run("queue", "replay-dead", queue_key, "--yes")
    assert POISON.decode() in out and "2 dead letter(s) put back" in out
    assert ReliableQueue(queue_key).depth() == 2
    assert "no dead letters" in run("queue", "replay-dead", queue_key, "--yes")  # a second run does nothing
    drain_all(time_budget=5, linger=0)  # still undecodable: the producer bug is not fixed
    assert dead_letters(queue_key)[0] == 2


def test_replay_dead_discard_drops_them_and_status_is_clean_again(make_user):
    _product, queue_key = sale_with_dead_letters(make_user)
    assert "2 dead letter(s) of" in run("queue", "replay-dead", queue_key, "--discard", "--yes")
    assert dead_letters(queue_key)[0] == 0 and ReliableQueue(queue_key).depth() == 0
    run("queue", "status")  # exit 0: no CommandError


def test_set_aside_moves_a_poison_event_at_the_head_to_the_dead_letters_and_the_rest_drains(make_user, monkeypatch):
    product = make_flash_product(stock=10)
    services.flash_open(product_id=product.pk)
    queue_key = keys.flash_queue(product.pk)
    poison = json.dumps({"token": "bad", "user_id": 1, "product_id": product.pk, "quantity": "many"}).encode()
    get_redis().rpush(queue_key, poison)  # decodes, but the handler fails on it every time
    services.flash_buy(user_id=make_user("after").pk, product_id=product.pk)
    drain_all(time_budget=2, linger=0)
    assert ReliableQueue(queue_key).depth() == 2 and not Order.objects.filter(product=product).exists()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, message = fails("queue", "set-aside", queue_key)
    assert code == cli.EXIT_REFUSED and "--yes" in message
    code, message = fails("queue", "set-aside", "orders.flash", "--yes")
    assert code == cli.EXIT_REFUSED and queue_key in message  # one queue, not a family
    out = run("queue", "set-aside", queue_key, "--yes")
    assert '"many"' in out and "1 event(s) at the head" in out
    assert dead_letters(queue_key) == (1, [poison])
    drain_all(time_budget=5, linger=0)
    assert Order.objects.filter(product=product).count() == 1  # the rest drained past it
    assert fails("queue", "status")[0] == cli.EXIT_ATTENTION  # and it waits, visible, for a person


# ---------------------------------------------------------------- the commands as processes


def test_queue_commands_as_processes_give_the_exit_codes_scripts_rely_on(make_user):
    ok = manage("queue", "status")
    assert ok.returncode == 0, ok.stderr
    assert "orders.flash" in ok.stdout
    _product, queue_key = sale_with_dead_letters(make_user)
    status = manage("queue", "status")
    assert status.returncode == 1 and "2 dead letter(s)" in status.stderr
    assert "Traceback" not in status.stderr
    unknown = manage("queue", "inspect", "nope")
    assert unknown.returncode == 2 and "orders.flash" in unknown.stderr
    refused = manage("queue", "replay-dead", queue_key)  # stdin is not a terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert POISON.decode() in refused.stdout  # it listed what it would have replayed
    replayed = manage("queue", "replay-dead", queue_key, "--yes")
    assert replayed.returncode == 0 and "2 dead letter(s) put back" in replayed.stdout
    assert manage("queue", "status").returncode == 0
    helped = manage("queue", "replay-dead", "--help")
    assert helped.returncode == 0 and "exit codes" in helped.stdout and "--discard" in helped.stdout


@pytest.mark.worker
def test_queue_reap_hands_a_killed_workers_batch_back(celery_worker_factory, make_user):
    product = make_flash_product(stock=10)
    services.flash_open(product_id=product.pk)
    for name in ("r1", "r2", "r3"):
        services.flash_buy(user_id=make_user(name).pk, product_id=product.pk)
    queue = ReliableQueue(keys.flash_queue(product.pk))
    # The worker takes the batch and sits inside its transaction: killed there, it never acks.
    slow = celery_worker_factory("doomed", QUEUE_CONSUMER_TTL_SECONDS=1, SURGE_TEST_DRAIN_PAUSE_SECONDS=60)
    from project.tasks import drain_queues

    drain_queues.delay()
    deadline = time.monotonic() + 30
    while queue.in_flight() < 3:
        assert time.monotonic() < deadline, "the worker never took the batch"
        time.sleep(0.05)
    slow.kill()
    time.sleep(1.5)  # its alive key expires
    status = json.loads(manage("queue", "status", "--json").stdout)
    flash = next(f for f in status["families"] if f["family"] == "orders.flash")
    assert flash["in_flight"] == 3 and flash["dead_consumers"] == 1
    reaped = manage("queue", "reap")
    assert reaped.returncode == 0, reaped.stderr
    assert "orders.flash: 3 event(s) handed back" in reaped.stdout
    assert queue.depth() == 3 and queue.in_flight() == 0
    assert "no batches held by dead consumers" in manage("queue", "reap").stdout  # a second run finds none
    drain_all(time_budget=5, linger=0)
    assert Order.objects.filter(product=product).count() == 3


@pytest.mark.disruptive
def test_with_redis_stopped_the_commands_exit_non_zero_with_a_message_and_no_traceback(devstack):
    devstack.stop("redis")
    code, message = fails("queue", "status")
    assert code == cli.EXIT_UNAVAILABLE and "Redis is unavailable" in message
    status = manage("queue", "status")
    assert status.returncode == 3 and "Redis is unavailable" in status.stderr
    assert "Traceback" not in status.stderr
    health = manage("health")
    assert health.returncode == 2 and "Traceback" not in health.stderr
    assert "DOWN" in health.stdout and "redis" in health.stderr
    report = json.loads(manage("health", "--json").stdout)
    assert report["status"] == "down" and any(r.startswith("redis:") for r in report["reasons"])


# ---------------------------------------------------------------- health


def test_health_is_a_table_of_the_stores_and_exits_0_when_healthy():
    out = run("health")
    for word in ("primary", "replica", "redis", "orders.flash", "status: healthy"):
        assert word in out
    report = json.loads(run("health", "--json"))
    assert report["status"] == "healthy" and report["reasons"] == []
    assert [s["name"] for s in report["stores"]][:3] == ["primary", "replica", "redis"]
    assert {"lag_seconds", "replay_lsn"} <= set(report["stores"][1])
    assert {"memory", "maxmemory_policy", "appendonly"} <= set(report["stores"][2])
    assert "appendonly" in out  # the sale-day checklist's Redis line


def test_health_with_redis_near_its_maxmemory_is_degraded_exit_1():
    client = get_redis()
    saved = client.config_get("maxmemory")["maxmemory"]
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", int(used * 1.05) + 1024)  # past 90 %, writes still fit
    try:
        code, message = fails("health")
    finally:
        client.config_set("maxmemory", saved)
    assert code == 1 and "redis: memory" in message and "maxmemory" in message


def test_health_with_dead_letters_is_degraded_exit_1(make_user):
    sale_with_dead_letters(make_user)
    code, message = fails("health")
    assert code == 1 and message.startswith("degraded") and "dead letter" in message


def test_health_as_a_process_exits_0_and_prints_json():
    res = manage("health", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["status"] == "healthy" and report["stores"][0]["role"] == "primary"
    helped = manage("health", "--help")
    assert helped.returncode == 0 and "--json" in helped.stdout and "2  down" in helped.stdout


def test_health_reads_the_real_replicas_lag_and_replay_position(real_replica):  # noqa: F811  the fixture imported above
    report = json.loads(run("health", "--json"))
    replica = report["stores"][1]
    assert replica["ok"] and replica["role"] == "replica"
    assert replica["replay_lsn"] and "/" in replica["replay_lsn"]
    assert replica["lag_seconds"] < replica["max_lag_seconds"]


@pytest.mark.disruptive
def test_health_with_the_replica_stopped_is_degraded_exit_1(real_replica, devstack):  # noqa: F811  the fixture imported above
    devstack.stop("replica")
    code, message = fails("health")
    assert code == 1 and "replica" in message
    report = json.loads(_stdout_of_failing("health", "--json"))
    assert report["status"] == "degraded" and report["stores"][1]["ok"] is False


@pytest.mark.disruptive
def test_health_with_the_primary_stopped_is_down_exit_2_as_a_process(devstack):
    devstack.stop("primary")
    res = manage("health")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "down: primary:" in res.stderr and "status: down" in res.stdout


def _stdout_of_failing(*args) -> str:
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_progress_bar_draws_on_a_terminal_only():
    tty = Terminal()
    bar = cli.Progress(tty, "reaping")
    for i in range(1, 4):
        bar.update(i, 3)
    bar.done()
    assert "reaping [" in tty.getvalue() and "3/3" in tty.getvalue()
    pipe = io.StringIO()
    quiet = cli.Progress(pipe, "reaping")
    quiet.update(3, 3)
    quiet.done()
    assert pipe.getvalue() == ""
