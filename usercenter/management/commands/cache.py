"""`manage.py cache`: the shared cache data and the per-user caches.

manage.py cache rebuild-home          rebuild the home document now (under its lock)
manage.py cache stats [--limit N]     keys per prefix (SCAN), L1/L2 hit ratios, Redis memory
manage.py cache clear --user ID       drop one user's cached data (sessions stay)
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections import Counter, defaultdict

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from prometheus_client.parser import text_string_to_metric_families

from project import metrics
from project.cache import TwoLevelCache
from project.redis import RedisUnavailable, get_redis
from usercenter import services

SCAN_BATCH = 1000  # keys per SCAN round trip: small enough not to block Redis, big enough to be quick
_TAG = re.compile(r"\{[^}]*\}")
_NUMBER = re.compile(r"(?<=:)\d+(?=:|$)")


def key_pattern(key: str) -> str:
    """`user:{42}` -> `user:{*}`, `c:1:auth:user:7` -> `c:1:auth:user:#`: keys of one kind together."""
    pattern = _NUMBER.sub("#", _TAG.sub("{*}", key))
    parts = pattern.split(":")
    return ":".join(parts[:5])


class Command(BaseCommand):
    help = "Inspect and manage the caches: rebuild-home, stats, clear --user ID."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        sub.add_parser("rebuild-home", help="Rebuild the shared home document now and store it in Redis.")
        stats = sub.add_parser("stats", help="Keys per prefix, hit ratios (L1, L2) per cache, Redis memory.")
        stats.add_argument("--limit", type=int, default=1_000_000, help="Stop counting keys after this many.")
        stats.add_argument(
            "--metrics-url",
            default="",
            help="Read the hit counters from a running server's /metrics (default: this process, or "
            "every gunicorn worker when PROMETHEUS_MULTIPROC_DIR is set).",
        )
        clear = sub.add_parser("clear", help="Drop one user's cached data (user hash, orders page 1, ...).")
        clear.add_argument("--user", type=int, required=True, metavar="ID", help="The user's id.")

    def handle(self, *args, action, **opts):
        try:
            if action == "rebuild-home":
                return self.rebuild_home()
            if action == "stats":
                return self.stats(limit=opts["limit"], metrics_url=opts["metrics_url"])
            if action == "clear":
                return self.clear(user_id=opts["user"])
        except RedisUnavailable as exc:
            raise CommandError(f"Redis is unavailable: {exc}") from exc
        raise CommandError(f"unknown action {action!r}")

    # ------------------------------------------------------------ rebuild-home

    def rebuild_home(self):
        started = time.monotonic()
        doc = services.home_rebuild()
        self.stdout.write(
            self.style.SUCCESS(
                f"home document rebuilt in {(time.monotonic() - started) * 1000:.0f} ms: "
                f"{len(doc['products'])} products, {len(doc['announcements'])} announcements, "
                f"version {doc['version']}"
            )
        )

    # ------------------------------------------------------------ stats

    def stats(self, *, limit: int, metrics_url: str):
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        client = get_redis()
        counts: Counter = Counter()
        seen = 0
        stopped = False
        # scan_iter, not a SCAN cursor loop: on a Redis Cluster it walks every master in turn.
        for key in client.scan_iter(count=SCAN_BATCH):
            if seen >= limit:
                stopped = True
                break
            counts[key_pattern(key.decode(errors="replace"))] += 1
            seen += 1
            if seen % (SCAN_BATCH * 50) == 0:
                self.stderr.write(f"  scanned {seen} keys…")
        self.stdout.write(f"Keys ({seen}{'+, stopped at --limit' if stopped else ''}):")
        for pattern, n in counts.most_common():
            self.stdout.write(f"  {n:>10}  {pattern}")

        self.stdout.write("")
        self.stdout.write("Two-level caches (events since the counters started):")
        events = self._cache_events(metrics_url)
        if not events:
            self.stdout.write("  no cache events counted yet")
        for namespace in sorted(events):
            e = events[namespace]
            lookups = e["l1_hit"] + e["l2_hit"] + e["stale"] + e["miss"]
            reached_l2 = lookups - e["l1_hit"]
            l1 = f"{e['l1_hit'] / lookups:.1%}" if lookups else "-"
            l2 = f"{(e['l2_hit'] + e['stale']) / reached_l2:.1%}" if reached_l2 else "-"
            self.stdout.write(
                f"  {namespace:<16} lookups {lookups:>9.0f}  L1 hit {l1:>6}  L2 hit {l2:>6}  "
                f"misses {e['miss']:.0f}  stale {e['stale']:.0f}  rebuilds {e['rebuild']:.0f}  "
                f"fallbacks {e['fallback']:.0f}"
            )
        info = client.hgetall(services.HOME_REBUILD_INFO_KEY)
        if info:
            info = {k.decode(): v.decode() for k, v in info.items()}
            self.stdout.write(
                f"  home document: {info.get('count', '0')} rebuilds stored, last {info.get('at', '?')} "
                f"(version {info.get('version', '?')}, by {info.get('by', '?')})"
            )

        memory, stats = client.info("memory"), client.info("stats")
        hits, misses = stats.get("keyspace_hits", 0), stats.get("keyspace_misses", 0)
        self.stdout.write("")
        self.stdout.write("Redis:")
        self.stdout.write(
            f"  memory used {memory.get('used_memory_human')} (peak {memory.get('used_memory_peak_human')}), "
            f"maxmemory {memory.get('maxmemory_human') or memory.get('maxmemory')}, "
            f"policy {memory.get('maxmemory_policy')}"
        )
        ratio = f"{hits / (hits + misses):.1%}" if hits + misses else "-"
        self.stdout.write(
            f"  keyspace hits {hits}, misses {misses} ({ratio}), evicted {stats.get('evicted_keys', 0)}, "
            f"expired {stats.get('expired_keys', 0)}"
        )

    def _cache_events(self, metrics_url: str) -> dict[str, dict[str, float]]:
        if metrics_url:
            try:
                with urllib.request.urlopen(metrics_url, timeout=5) as res:  # noqa: S310 - an operator's URL
                    text = res.read().decode()
            except OSError as exc:
                raise CommandError(f"could not read {metrics_url}: {exc}") from exc
        else:
            text = metrics.render_latest().decode()
        events: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for family in text_string_to_metric_families(text):
            if family.name != "surge_cache_events":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    events[sample.labels["namespace"]][sample.labels["event"]] += sample.value
        # This process's own caches, when the counters above are not shared (no metrics dir).
        if not events:
            for cache in TwoLevelCache.instances():
                for name, n in cache.stats.items():
                    if n:
                        events[cache.namespace][name] += n
        return events

    # ------------------------------------------------------------ clear

    def clear(self, *, user_id: int):
        if not get_user_model().objects.filter(pk=user_id).exists():
            raise CommandError(f"no user with id {user_id}")
        for item in services.user_cache_clear(user_id=user_id):
            self.stdout.write(f"  dropped {item}")
        self.stdout.write(self.style.SUCCESS(f"cached data of user {user_id} dropped (sessions kept)"))
