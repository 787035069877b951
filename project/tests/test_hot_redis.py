"""The hot paths' own Redis connection (project.redis.hot_command / hot_script, and the batched
hot_pipeline / hot_script_many), against the live Redis: raw replies, counting, NOSCRIPT after a
flush, error replies in a batch, a connection the server dropped, a reply left unread, threads
and a forked child."""

import multiprocessing
import threading

import pytest
import redis

from project import counters
from project.redis import _pinned_connection, get_redis, hot_command, hot_pipeline, hot_script, hot_script_many


def test_raw_replies_and_every_command_is_counted():
    client = get_redis()
    client.hset("t:hot:h", mapping={"a": "1", "b": "2"})
    hot_command("PING")  # connected (the handshake's commands count too)
    _sql0, redis0 = counters.snapshot()
    assert hot_command("HGET", "t:hot:h", "a") == b"1"
    # No response callbacks: the reply as Redis sends it (the client would turn PONG into True).
    assert hot_command("PING") == b"PONG"
    _sql1, redis1 = counters.snapshot()
    assert redis1 - redis0 == 2


def test_script_is_loaded_again_after_a_script_flush():
    script = get_redis().register_script("return {KEYS[1], ARGV[1]}")
    assert hot_script(script, keys=["t:hot:k"], args=[7]) == [b"t:hot:k", b"7"]
    get_redis().script_flush()
    assert hot_script(script, keys=["t:hot:k"], args=[8]) == [b"t:hot:k", b"8"]


def test_an_error_reply_is_raised_and_the_connection_stays_usable():
    get_redis().set("t:hot:s", "text")
    with pytest.raises(redis.exceptions.ResponseError):
        hot_command("INCR", "t:hot:s")
    assert hot_command("GET", "t:hot:s") == b"text"


def test_a_connection_the_server_closed_is_reopened_once():
    conn_id = hot_command("CLIENT", "ID")
    assert get_redis().client_kill_filter(_id=conn_id) == 1
    # The next command finds the socket closed, reconnects and succeeds.
    assert hot_command("PING") == b"PONG"
    assert hot_command("CLIENT", "ID") != conn_id


def test_a_reply_left_unread_is_never_read_by_the_next_command(monkeypatch):
    client = get_redis()
    client.set("t:hot:a", "A")
    client.set("t:hot:b", "B")
    conn = _pinned_connection()
    real_read = conn.read

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. gunicorn's timeout firing between send and read

    monkeypatch.setattr(conn, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hot_command("GET", "t:hot:a")
    monkeypatch.setattr(conn, "read", real_read)
    # The GET a reply is still on the old socket: it was dropped, so b gets b's answer.
    assert hot_command("GET", "t:hot:b") == b"B"


def test_threads_each_use_their_own_connection_in_parallel():
    n_threads, n_incr = 8, 300
    ids, errors = set(), []
    barrier = threading.Barrier(n_threads)

    def work():
        try:
            barrier.wait()
            ids.add(hot_command("CLIENT", "ID"))
            for _ in range(n_incr):
                hot_command("INCR", "t:hot:n")
        except Exception as exc:  # noqa: BLE001  collected, and asserted empty below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ids) == n_threads
    assert int(get_redis().get("t:hot:n")) == n_threads * n_incr


def _child(queue):
    queue.put((hot_command("CLIENT", "ID"), hot_command("GET", "t:hot:fork")))


def test_a_forked_child_opens_its_own_connection():
    get_redis().set("t:hot:fork", "F")
    parent_id = hot_command("CLIENT", "ID")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    child_id, value = queue.get(timeout=20)
    proc.join(timeout=20)
    assert value == b"F"
    assert child_id != parent_id
    # The parent's connection was not touched by the child.
    assert hot_command("CLIENT", "ID") == parent_id


# ---------------------------------------------------------------- batches in one round trip


def test_pipeline_replies_in_order_with_error_replies_in_place():
    get_redis().set("t:hot:p:s", "text")
    hot_command("PING")
    _sql0, redis0 = counters.snapshot()
    replies = hot_pipeline(
        [("SET", "t:hot:p:a", 1), ("INCR", "t:hot:p:s"), ("INCR", "t:hot:p:a"), ("GET", "t:hot:p:s")]
    )
    _sql1, redis1 = counters.snapshot()
    assert replies[0] == b"OK"
    assert isinstance(replies[1], redis.exceptions.ResponseError)
    # The commands after the error ran, and their replies are theirs.
    assert replies[2:] == [2, b"text"]
    assert redis1 - redis0 == 4
    # The connection is in step for the next command.
    assert hot_command("GET", "t:hot:p:a") == b"2"


def test_script_many_after_a_script_flush_runs_every_call_once():
    script = get_redis().register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert hot_script_many(script, [(["t:hot:m:a"], [1])]) == [1]
    get_redis().script_flush()
    calls = [(["t:hot:m:a"], [10]), (["t:hot:m:b"], [5]), (["t:hot:m:a"], [100])]
    assert hot_script_many(script, calls) == [11, 5, 111]
    assert get_redis().get("t:hot:m:a") == b"111"
    assert hot_script_many(script, []) == []


def test_pipeline_on_a_connection_the_server_closed_is_sent_again():
    conn_id = hot_command("CLIENT", "ID")
    assert get_redis().client_kill_filter(_id=conn_id) == 1
    assert hot_pipeline([("SET", "t:hot:p:k", "v"), ("GET", "t:hot:p:k")]) == [b"OK", b"v"]
    assert hot_command("CLIENT", "ID") != conn_id


def test_pipeline_interrupted_mid_read_drops_the_socket(monkeypatch):
    get_redis().set("t:hot:p:x", "X")
    conn = _pinned_connection()
    real_read = conn.read
    reads = []

    def second_read_interrupted(*args, **kwargs):
        reads.append(1)
        if len(reads) == 2:
            raise KeyboardInterrupt
        return real_read(*args, **kwargs)

    monkeypatch.setattr(conn, "read", second_read_interrupted)
    with pytest.raises(KeyboardInterrupt):
        hot_pipeline([("PING",), ("PING",), ("PING",)])
    monkeypatch.setattr(conn, "read", real_read)
    # Two PONGs were left on the old socket; the next command gets its own reply.
    assert hot_command("GET", "t:hot:p:x") == b"X"


def test_pipeline_reads_a_reply_for_every_command_of_a_generator():
    replies = hot_pipeline(("SET", f"t:hot:g:{i}", i) for i in range(3))
    assert replies == [b"OK", b"OK", b"OK"]
    # Nothing was left unread: the next command gets its own reply.
    assert hot_command("GET", "t:hot:g:2") == b"2"


def test_a_reply_that_times_out_is_never_read_by_the_next_command():
    get_redis().set("t:hot:t", "T")
    # BLPOP waits longer than the socket timeout (REDIS_SOCKET_TIMEOUT, 1 s in tests): the read
    # times out, the command is sent once more on a new connection and times out again.
    with pytest.raises(redis.exceptions.TimeoutError):
        hot_command("BLPOP", "t:hot:never", 3)
    get_redis().rpush("t:hot:never", "late")  # the abandoned BLPOPs are answered now (or not)
    assert hot_command("GET", "t:hot:t") == b"T"
    assert hot_command("PING") == b"PONG"


def test_error_replies_come_back_as_the_clients_exception_classes():
    replies = hot_pipeline([("EVALSHA", "0" * 40, 0), ("PING",)])
    assert isinstance(replies[0], redis.exceptions.NoScriptError)
    assert replies[1] == b"PONG"
    with pytest.raises(redis.exceptions.NoScriptError):
        hot_command("EVALSHA", "0" * 40, 0)


def test_the_socket_timeout_is_the_kernels_so_a_round_trip_makes_no_poll_calls():
    import socket
    import struct
    import sys

    from django.conf import settings

    hot_command("PING")
    sock = _pinned_connection().sock
    if not sys.platform.startswith("linux"):
        pytest.skip("kernel timeouts are set on Linux only")
    assert sock.gettimeout() is None  # blocking: no poll() before each send and recv
    for opt in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
        sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("ll")))
        assert sec + usec / 1e6 == pytest.approx(settings.REDIS_SOCKET_TIMEOUT, abs=0.01)
