"""Redis Cluster for the data plane (REDIS_CLUSTER_NODES): the Django cache's client class and the
few helpers the hot paths need on a cluster.

Why a client class of our own: django-redis 7 has no cluster client, Django's own Redis cache
fails with MOVED, and django-valkey's cluster backend would bring a second Redis client library
(valkey-py) beside the redis-py every other part of Surge uses. redis-py's `RedisCluster` already
follows MOVED/ASK, refreshes the slot map after a failover and routes a non-transactional
pipeline key by key; django-redis's `DefaultClient` only needs to be handed one instead of a
`Redis`, and the few multi-key operations it sends as one command split slot by slot.

Every Lua script touches the keys of one slot (they share a `{tag}`), so EVALSHA is routed by its
first key; SCRIPT LOAD goes to every master (a promoted replica never had it: NOSCRIPT reloads).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import redis
from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from project import counters, redisconn

# Connection-level errors only: a MOVED or a READONLY is handled by RedisCluster itself.
_main_exceptions = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class CountingConnection(redisconn.Connection):
    """Counts every command a cluster node's connection sends, pipelines by their commands (a
    RedisCluster routes each command to a node's own client, so counting at the client would
    miss the pipelines' per-node sends). NOREPLICAS is a connection error, as everywhere."""

    def send_command(self, *args, **kwargs):
        counters.count_redis(1)
        return super().send_command(*args, **kwargs)

    def pack_commands(self, commands):
        commands = list(commands)
        counters.count_redis(len(commands))
        return super().pack_commands(commands)


_clients: dict[tuple, RedisCluster] = {}
_clients_lock = threading.Lock()


def parse_nodes(raw: Iterable[str]) -> list[tuple[str, int]]:
    """ "host:port" strings (REDIS_CLUSTER_NODES) as (host, port) pairs."""
    nodes = []
    for item in raw:
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            nodes.append((host, int(port)))
    return nodes


def client_options(cache_options: dict) -> dict:
    """RedisCluster's keyword arguments from a django-redis OPTIONS dict (timeouts, pool size)."""
    options = {
        k: v
        for k, v in cache_options.get("CONNECTION_POOL_KWARGS", {}).items()
        if k not in ("connection_class", "retry", "health_check_interval")  # set here / per node
    }
    if "SOCKET_TIMEOUT" in cache_options:
        options["socket_timeout"] = cache_options["SOCKET_TIMEOUT"]
    if "SOCKET_CONNECT_TIMEOUT" in cache_options:
        options["socket_connect_timeout"] = cache_options["SOCKET_CONNECT_TIMEOUT"]
    return options


def cluster_client(nodes: list[tuple[str, int]], options: dict, *, raw: bool = False) -> RedisCluster:
    """One RedisCluster per process and settings (it holds a pool per node and the slot map).

    The retries are few and short: while a master fails over its slots answer nothing for a few
    seconds, and a hot path must answer 503 within about a second rather than hang; the next
    request finds the new slot map. `raw`: the hot paths' own client, whose replies come back as
    Redis sends them (no response callbacks), as on the single node."""
    key = (tuple(nodes), tuple(sorted((k, repr(v)) for k, v in options.items())), raw)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # Given as a URL, RedisCluster builds each node's pool from the keyword arguments,
                # connection_class included (the counting one); the other nodes are extra
                # startup nodes.
                (host, port), rest = nodes[0], nodes[1:]
                client = RedisCluster(
                    url=f"redis://{host}:{port}/0",
                    startup_nodes=[ClusterNode(h, p) for h, p in rest],
                    require_full_coverage=False,
                    retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=2),
                    connection_class=CountingConnection,
                    **options,
                )
                _clients[key] = client
    if raw:
        _strip_callbacks(client)
    return client


def _strip_callbacks(client: RedisCluster) -> None:
    """Node clients appear when the slot map changes (a failover, a node back): each loses its
    response callbacks before the hot paths use it. A loop over a handful of nodes per call."""
    for node in client.get_nodes():
        conn = node.redis_connection
        if conn is not None and conn.response_callbacks:
            conn.response_callbacks = {}


class ClusterClient(DefaultClient):
    """django-redis's client over a `RedisCluster` (OPTIONS["STARTUP_NODES"], and the usual
    SOCKET_TIMEOUT / SOCKET_CONNECT_TIMEOUT / CONNECTION_POOL_KWARGS for every node's pool)."""

    def connect(self, index: int = 0) -> RedisCluster:
        return cluster_client(parse_nodes(self._options["STARTUP_NODES"]), client_options(self._options))

    def disconnect(self, index: int = 0, client=None) -> None:
        """The cluster client is shared by the process; django-redis's CLOSE_CONNECTION is off."""

    def get_many(self, keys, version=None, client=None) -> dict:
        """MGET over keys of several slots fails (CROSSSLOT): one MGET per slot, in a pipeline."""
        if client is None:
            client = self.get_client(write=False)
        if not keys:
            return {}
        map_keys = {self.make_key(k, version=version): k for k in keys}
        try:
            values = client.mget_nonatomic(list(map_keys))
        except _main_exceptions as e:
            raise ConnectionInterrupted(connection=client) from e
        return {map_keys[k]: self.decode(v) for k, v in zip(map_keys, values, strict=True) if v is not None}


# ---------------------------------------------------------------- what the hot paths need
#
# project/redis.py's hot_* functions come here in cluster mode: the same contracts (raw replies,
# error replies in place in a pipeline, RedisUnavailable when the slot's master is gone), over
# the process's raw RedisCluster, which routes each command by its key.


def hot_client() -> RedisCluster:
    from django.conf import settings

    options = settings.CACHES["default"]["OPTIONS"]
    return cluster_client(parse_nodes(options["STARTUP_NODES"]), client_options(options), raw=True)


def hot_command(*args):
    """One command, routed by its key; an error reply raised as redis-py's exception for it."""
    return hot_client().execute_command(*args)


def hot_pipeline(commands) -> list:
    """Many commands in one cluster pipeline (one round trip per node, each command routed by its
    key); the replies in order, an error reply as its exception object in its place."""
    commands = list(commands)
    if not commands:
        return []
    pipe = hot_client().pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    replies = pipe.execute(raise_on_error=False)
    for r in replies:
        if redisconn.is_no_replicas(r):
            raise redisconn.NoReplicasError(str(r))  # a master refusing writes: unavailable
    return replies


def _node_client(cluster: RedisCluster, key) -> redis.Redis:
    """The plain client of the master that holds `key`'s slot."""
    node = cluster.get_node_from_key(key)
    if node is None or node.redis_connection is None:
        cluster.nodes_manager.initialize()
        node = cluster.get_node_from_key(key)
        _strip_callbacks(cluster)
    return node.redis_connection


def hot_script_replicated(script, keys: list, args: list, replicas: int, timeout_ms: int) -> tuple[object, bool]:
    """EVALSHA and WAIT in one round trip to the master of the script's slot, so WAIT counts the
    replicas of the node that took the write (a cluster pipeline would send WAIT to a node of its
    choosing). Returns (reply, whether `replicas` replicas have it). A MOVED (the slot moved in
    a failover) or a refused connection refreshes the slot map; the caller answers 503 and the
    retry reaches the new master."""
    cluster = hot_client()
    for _attempt in range(2):
        pipe = _node_client(cluster, keys[0]).pipeline(transaction=False)
        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        try:
            reply, acked = pipe.execute(raise_on_error=False)
        except _main_exceptions:
            cluster.nodes_manager.initialize()  # the slot's master is gone: ask the others
            raise
        if isinstance(reply, redis.exceptions.NoScriptError):  # a promoted replica never had it
            script.sha = cluster.script_load(script.script)  # to every master
            continue
        if isinstance(reply, (redis.exceptions.ReadOnlyError, redis.exceptions.MovedError, redis.exceptions.AskError)):
            cluster.nodes_manager.initialize()
            continue
        for r in (reply, acked):
            if redisconn.is_no_replicas(r):
                raise redisconn.NoReplicasError(str(r))  # a master refusing writes: unavailable
            if isinstance(r, redis.exceptions.RedisError):
                raise r
        return reply, int(acked) >= replicas
    raise redis.exceptions.ConnectionError("the slot's master changed during a failover; retry")
