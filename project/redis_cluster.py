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
from collections import defaultdict
from collections.abc import Iterable

import redis
from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from project import counters

# Connection-level errors only: a MOVED or a READONLY is handled by RedisCluster itself.
_main_exceptions = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

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


def cluster_client(nodes: list[tuple[str, int]], options: dict) -> RedisCluster:
    """One RedisCluster per process and settings (it holds a pool per node and the slot map).

    The retries are few and short: while a master fails over its slots answer nothing for a few
    seconds, and a hot path must answer 503 within about a second rather than hang; the next
    request finds the new slot map."""
    key = (tuple(nodes), tuple(sorted((k, repr(v)) for k, v in options.items())))
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
                    connection_class=counters.CountingConnection,
                    **options,
                )
                _clients[key] = client
    return client


def forget_clients() -> None:
    """Drop the process's clients (a forked child must open its own sockets)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


class ClusterClient(DefaultClient):
    """django-redis's client over a `RedisCluster` (OPTIONS["STARTUP_NODES"], and the usual
    SOCKET_TIMEOUT / SOCKET_CONNECT_TIMEOUT / CONNECTION_POOL_KWARGS for every node's pool)."""

    def connect(self, index: int = 0) -> RedisCluster:
        options = dict(self._options.get("CONNECTION_POOL_KWARGS", {}))
        options.pop("connection_class", None)  # always the counting one, set in cluster_client
        if "SOCKET_TIMEOUT" in self._options:
            options["socket_timeout"] = self._options["SOCKET_TIMEOUT"]
        if "SOCKET_CONNECT_TIMEOUT" in self._options:
            options["socket_connect_timeout"] = self._options["SOCKET_CONNECT_TIMEOUT"]
        return cluster_client(parse_nodes(self._options["STARTUP_NODES"]), options)

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


def by_slot(keys: Iterable) -> dict[int, list]:
    """The keys grouped by hash slot (a command over several keys must stay in one slot)."""
    groups: dict[int, list] = defaultdict(list)
    for key in keys:
        groups[redis.cluster.key_slot(key.encode() if isinstance(key, str) else key)].append(key)
    return dict(groups)


def node_client(cluster: RedisCluster, key) -> redis.Redis:
    """The plain client of the master that holds `key`'s slot (for a command that must reach
    that very node, like the WAIT after a grab)."""
    node = cluster.get_node_from_key(key)
    if node.redis_connection is None:
        cluster.nodes_manager.initialize()
        node = cluster.get_node_from_key(key)
    return node.redis_connection


def script_then_wait(cluster: RedisCluster, script, keys: list, args: list, replicas: int, timeout_ms: int):
    """EVALSHA and WAIT in one round trip to the master of the script's slot, so WAIT counts the
    replicas of the node that took the write. Returns (reply, acknowledged replicas), each an
    exception object when Redis answered an error. A MOVED (the slot moved in a failover or a
    reshard) refreshes the slot map and goes once more to the new owner."""
    for attempt in range(2):
        node = node_client(cluster, keys[0])
        pipe = node.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        try:
            reply, acked = pipe.execute(raise_on_error=False)
        except _main_exceptions:
            cluster.nodes_manager.initialize()
            raise
        moved = isinstance(reply, redis.exceptions.ResponseError) and str(reply).startswith(("MOVED", "ASK"))
        if isinstance(reply, redis.exceptions.NoScriptError):
            script.sha = cluster.script_load(script.script)  # to every master
            continue
        if isinstance(reply, redis.exceptions.ReadOnlyError) or moved:
            cluster.nodes_manager.initialize()
            if attempt == 0:
                continue
            raise redis.exceptions.ConnectionError("the slot's master moved during a failover; retry")
        return reply, acked
    raise redis.exceptions.ConnectionError("the script could not be run on the slot's master")


def pipeline_replies(cluster: RedisCluster, commands: list[tuple]) -> list:
    """Many commands in one cluster pipeline (one round trip per node, each command routed by its
    key); the replies in order, an error reply as its exception object in its place."""
    if not commands:
        return []
    pipe = cluster.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute(raise_on_error=False)
