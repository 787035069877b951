"""The hot paths' own Redis client (project.redis.hot_command / hot_script, and the batched
hot_pipeline / hot_script_many: redis-py's client holding one connection per thread, and its
pipelines), against the live Redis: raw replies, counting, NOSCRIPT after a flush, error replies
in a batch, a connection the server dropped, Redis restarted, a reply left unread when a read is
interrupted, a demoted master (READONLY), a master refusing writes (NOREPLICAS), threads and a
forked child."""

import contextlib
import multiprocessing
import signal
import threading

import pytest
import redis

from project import counters, redisconn, testing
from project.redis import RedisUnavailable, get_redis, hot_command, hot_pipeline, hot_script, hot_script_many


class _Interrupted(BaseException):
    """What a signal handler raises mid-read (gunicorn's or Celery's time limit, Ctrl-C)."""


@contextlib.contextmanager
def _interrupt_after(seconds: float):
    """Raise _Interrupted in this (the main) thread after `seconds`, wherever it is blocked."""

    def handler(signum, frame):
        raise _Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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


def test_a_reply_left_unread_is_never_read_by_the_next_command():
    client = get_redis()
    client.set("t:hot:b", "B")
    conn_id = hot_command("CLIENT", "ID")
    # Interrupted while waiting for the reply (BLPOP answers after 0.6 s, the interrupt comes
    # at 0.2 s), the way gunicorn's or Celery's time limit interrupts a request or a task.
    with pytest.raises(_Interrupted), _interrupt_after(0.2):
        hot_command("BLPOP", "t:hot:late", 0.6)
    # The close reaches the server asynchronously; until it has, the push could still be served
    # to the blocked client. A connection that was never dropped keeps its id listed: the wait fails.
    testing.wait_until(
        lambda: all(c["id"] != str(conn_id) for c in client.client_list()),
        5,
        "the server dropping the interrupted connection",
    )
    client.rpush("t:hot:late", "late")  # an abandoned BLPOP on a live connection would get this
    # The BLPOP's reply was never read: the connection was dropped, so GET b gets b's answer.
    assert hot_command("GET", "t:hot:b") == b"B"
    assert hot_command("CLIENT", "ID") != conn_id
    assert client.lrange("t:hot:late", 0, -1) == [b"late"]


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
    assert hot_pipeline([("PING",)]) == [b"PONG"]
    # Every connection of this process but the one asking: the hot one and the pool's.
    assert get_redis().client_kill_filter(_type="normal", skipme=True) >= 1
    assert hot_pipeline([("SET", "t:hot:p:k", "v"), ("GET", "t:hot:p:k")]) == [b"OK", b"v"]


def test_pipeline_interrupted_mid_read_leaves_no_reply_for_the_next_one():
    get_redis().set("t:hot:p:x", "X")
    with pytest.raises(_Interrupted), _interrupt_after(0.2):
        hot_pipeline([("PING",), ("BLPOP", "t:hot:p:late", 0.6), ("PING",)])
    get_redis().rpush("t:hot:p:late", "late")
    # The BLPOP's and the last PING's replies were never read: the next pipeline (whichever
    # connection of the pool it gets) and the next command get their own replies.
    assert hot_pipeline([("GET", "t:hot:p:x"), ("PING",)]) == [b"X", b"PONG"]
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


def test_a_readonly_reply_drops_the_connection_and_says_redis_is_unavailable():
    # What a master demoted by a failover answers to a write. A script returns that error reply
    # here, so the live Redis stays a master.
    readonly = "return redis.error_reply('READONLY You can\\'t write against a read only replica.')"
    conn_id = hot_command("CLIENT", "ID")
    with pytest.raises(redis.exceptions.ConnectionError):
        hot_command("EVAL", readonly, 0)
    # Dropped, so the next command connects again (in Sentinel mode: to the master named now).
    assert hot_command("CLIENT", "ID") != conn_id
    with pytest.raises(redis.exceptions.ConnectionError):
        hot_pipeline([("PING",), ("EVAL", readonly, 0)])
    assert hot_pipeline([("PING",)]) == [b"PONG"]


def test_a_master_refusing_writes_is_redis_unavailable_not_an_error_reply():
    # NOREPLICAS: fewer replicas in sync than min-replicas-to-write (test_redis_sentinel cuts a
    # real master off); a script returns that reply here.
    refused = "return redis.error_reply('NOREPLICAS Not enough good replicas to write.')"
    for call in (
        lambda: hot_command("EVAL", refused, 0),
        lambda: hot_pipeline([("EVAL", refused, 0)]),
        lambda: get_redis().eval(refused, 0),
    ):
        with pytest.raises(RedisUnavailable) as info:
            call()
        assert isinstance(info.value, redisconn.NoReplicasError)
    assert hot_command("PING") == b"PONG"


def test_redis_restarted_is_unavailable_while_down_and_used_again_after(devstack):
    get_redis().set("t:hot:r", "R")
    assert hot_command("GET", "t:hot:r") == b"R"
    assert hot_pipeline([("PING",)]) == [b"PONG"]
    devstack.stop("redis")
    try:
        with pytest.raises(RedisUnavailable):
            hot_command("PING")
        with pytest.raises(RedisUnavailable):
            hot_pipeline([("PING",)])
    finally:
        devstack.start("redis")
    # The dev Redis keeps nothing on disk: it came back empty, on new connections.
    assert hot_command("GET", "t:hot:r") is None
    assert hot_pipeline([("SET", "t:hot:r", "again"), ("GET", "t:hot:r")]) == [b"OK", b"again"]


def test_a_pipeline_counts_its_commands_once_and_a_client_each_command():
    _sql0, redis0 = counters.snapshot()
    pipe = get_redis().pipeline(transaction=False)
    pipe.set("t:hot:c", 1).incr("t:hot:c").get("t:hot:c")
    assert pipe.execute() == [True, 2, b"2"]
    get_redis().get("t:hot:c")
    _sql1, redis1 = counters.snapshot()
    assert redis1 - redis0 == 4
