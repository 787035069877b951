"""A Redis that stops answering without closing its sockets (its process frozen: SIGSTOP; to its
clients this is what a cut link looks like once the connect fails too). Each process waits for it
once, on the connect of its retry, then refuses to try it for REDIS_HUNG_HOLD_SECONDS
(project/redisconn.py): requests answer 503 or read the database at once instead of each waiting
out the socket timeouts, which behind nginx's 3 s hot read timeout took whole app hosts out.
A real redis-server of the test's own, frozen and woken by signal; a real gunicorn."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry

from project import redisconn, testing
from project.redis import RedisUnavailable
from redpackets.tests.factories import make_campaign, make_grabbers

SOCKET_TIMEOUT = 1.0


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test alone (freezing the shared one would stall other tests)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is needed")
    port = testing.free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path)]  # fmt: skip
    probe = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
    with testing.redis_server(args, tmp_path / "redis.log", probe) as server:
        yield {"port": port, "pid": server.pid}


def _client(port: int) -> redis.Redis:
    """A client as settings.CACHES builds one: the project's connection class, short timeouts,
    one immediate retry on a new connection."""
    pool = redis.ConnectionPool(
        connection_class=redisconn.Connection,
        host="127.0.0.1",
        port=port,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 1),
    )
    return redis.Redis(connection_pool=pool)


def _timed(call) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except RedisUnavailable as e:
        return e, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_frozen_redis_is_waited_for_once_then_refused_at_once_until_the_hold_ends(own_redis, monkeypatch, caplog):
    monkeypatch.setattr(redisconn.HungServersFailFast, "hold_seconds", 1.5)
    caplog.set_level("WARNING", logger="project.redisconn")
    client, other = _client(own_redis["port"]), _client(own_redis["port"])
    assert client.ping() and other.ping()  # both hold an open connection
    os.kill(own_redis["pid"], signal.SIGSTOP)
    try:
        first, waited = _timed(client.ping)
        # The open connection's read timed out, and so did the handshake of the retry's new one.
        assert isinstance(first, redis.TimeoutError) and waited >= SOCKET_TIMEOUT, (first, waited)
        assert redisconn.hung_until("127.0.0.1", own_redis["port"]) is not None
        # The operator sees it once (the control room shows the processes' warnings).
        assert [r.getMessage() for r in caplog.records] == [
            f"Redis at 127.0.0.1:{own_redis['port']} did not answer a new connection in time; "
            "this process skips it for 1.5 s"
        ]
        # Now every connection of the process is refused without trying, also one opened before.
        for c in (client, other, client):
            error, took = _timed(c.ping)
            assert isinstance(error, redisconn.HungServerError), error
            assert took < SOCKET_TIMEOUT / 2, took
        assert len(caplog.records) == 1
    finally:
        os.kill(own_redis["pid"], signal.SIGCONT)
    time.sleep(1.6)  # the hold ends: the server is tried again, and answers
    assert redisconn.hung_until("127.0.0.1", own_redis["port"]) is None
    assert client.ping() and other.ping()


def test_a_slow_reply_on_a_live_server_is_no_sign_of_a_hung_one(own_redis):
    client = _client(own_redis["port"])
    # BLPOP outwaits the socket timeout twice (the command and its retry); the server answered
    # both connects, so it is not marked and the next command goes straight through.
    with pytest.raises(redis.TimeoutError):
        client.blpop(["t:never"], timeout=3)
    assert redisconn.hung_until("127.0.0.1", own_redis["port"]) is None
    assert client.set("t:k", "v") and client.get("t:k") == b"v"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_behind_gunicorn_each_process_waits_once_then_answers_at_once(own_redis, tmp_path):
    """What nginx sees from an app host while its Redis is frozen: grabs answer 503 with
    Retry-After, the user's own page reads the database, and only each worker process's first
    request waits for Redis (without the hold, every request waits a socket timeout or more)."""
    env = {"REDIS_URL": f"redis://127.0.0.1:{own_redis['port']}/0", "REDIS_HUNG_HOLD_SECONDS": "60"}
    campaign = make_campaign(total=40 * 100, count=40, open=False)
    users = make_grabbers(12, "hung")
    opened = subprocess.run(
        [sys.executable, "manage.py", "redpackets", "open", str(campaign.pk)],
        cwd=testing.ROOT, env=testing.child_env(**env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stdout + opened.stderr
    server = testing.GunicornProcess(tmp_path, workers=2, **env)
    session = requests.Session()
    try:
        grab = f"{server.url}/api/redpackets/{campaign.pk}/grab/"
        _uid, token = users[0]
        assert session.post(grab, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
        os.kill(own_redis["pid"], signal.SIGSTOP)
        answers = []
        for _uid, token in users[1:]:
            headers = {"Authorization": f"Bearer {token}"}
            for method, url in (("post", grab), ("get", f"{server.url}/api/me/")):
                started = time.monotonic()
                r = session.request(method, url, headers=headers, timeout=10)
                answers.append((method, r.status_code, r.headers.get("Retry-After"), time.monotonic() - started))
        grabs = [a for a in answers if a[0] == "post"]
        reads = [a for a in answers if a[0] == "get"]
        assert {a[1] for a in grabs} == {503} and all(a[2] for a in grabs), grabs
        assert {a[1] for a in reads} == {200}, reads
        slow = [a for a in answers if a[3] >= SOCKET_TIMEOUT]
        assert len(slow) <= 2, answers  # at most once per worker process
        assert max(a[3] for a in answers) < 3.0, answers  # inside nginx's hot read timeout
    finally:
        os.kill(own_redis["pid"], signal.SIGCONT)
        server.stop()
