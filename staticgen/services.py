"""Publishing: render registered outputs and write them to the `cdn` storage.

- Unchanged files are skipped: `_manifest.json` in the bucket keeps sha256, Content-Type and
  Cache-Control per path (one small read per run instead of a HEAD per object).
- Files of outputs that no longer exist (a deleted product) are deleted.
- One publisher at a time (a Redis lock), so two runs never interleave their manifest writes.
- `publish_schedule(targets)` is what apps call after a change: it collects the targets in a
  Redis set and schedules ONE task per debounce window (SET NX + countdown), so a burst of
  admin edits costs one republish of just the affected files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.redis import RedisUnavailable, get_redis
from staticgen import registry
from staticgen.models import PublishRun
from staticgen.storage import MANIFEST, CdnWriter

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
MANIFEST_CACHE_CONTROL = "no-cache"
LOCK_KEY = "staticgen:publish-lock"
# Longer than the slowest full publish we expect (thousands of files); a dead publisher's lock
# frees itself after this.
LOCK_SECONDS = 600
PENDING_KEY = "staticgen:pending"
DEBOUNCE_KEY = "staticgen:debounce"
# Pending targets survive a day without a worker; beat's safety net drains them long before.
PENDING_TTL_SECONDS = 24 * 3600


def debounce_seconds() -> float:
    return float(settings.STATICGEN_DEBOUNCE_SECONDS)


class PublishBusy(RuntimeError):
    pass


class UnknownTarget(ValueError):
    pass


@dataclass
class PublishResult:
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        verb = "would write" if self.dry_run else "written"
        return (
            f"{verb} {len(self.written)}, unchanged {self.unchanged}, "
            f"{'would delete' if self.dry_run else 'deleted'} {len(self.deleted)}, failed {len(self.failed)}, "
            f"{self.bytes_written:,} bytes, {self.seconds:.2f}s"
        )


@dataclass
class _Job:
    path: str
    output: registry.Output
    key: Any


# ---------------------------------------------------------------- manifest


def manifest_load(writer: CdnWriter) -> dict[str, dict]:
    raw = writer.read(MANIFEST)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("unreadable %s: every file will be rewritten", MANIFEST)
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _manifest_save(writer: CdnWriter, files: dict[str, dict]) -> None:
    body = json.dumps(
        {"version": MANIFEST_VERSION, "generated_at": timezone.now().isoformat(), "files": files},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    writer.write(
        MANIFEST,
        body,
        content_type="application/json",
        cache_control=MANIFEST_CACHE_CONTROL,
    )


def _entry(output: registry.Output, body: bytes) -> dict:
    return {
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "content_type": output.content_type,
        "cache_control": output.cache_control,
    }


# ---------------------------------------------------------------- planning


def _plan(targets: list[str] | None, failed: dict[str, str]) -> tuple[list[_Job], Callable[[str], bool]]:
    """The files to render, and which manifest paths this run answers for (for deletions)."""
    jobs: dict[str, _Job] = {}
    unlisted: set[str] = set()  # outputs whose key listing failed: never delete their files

    def listed(output: registry.Output) -> list[tuple[str, Any]]:
        try:
            return output.all_paths()
        except Exception as exc:
            logger.exception("listing %s failed", output.name)
            failed[output.name] = f"listing keys failed: {exc}"
            unlisted.add(output.name)
            return []

    patterns: list[str] = []
    if targets is None:
        for output in registry.outputs():
            for path, key in listed(output):
                jobs[path] = _Job(path, output, key)
    else:
        for target in targets:
            if registry.is_pattern(target):
                patterns.append(target)
                for output in registry.outputs():
                    for path, key in listed(output):
                        if registry.matches(target, path, output):
                            jobs[path] = _Job(path, output, key)
                continue
            found = registry.find(target)
            if found is not None:
                jobs[target] = _Job(target, *found)
            else:
                # A path no output claims: a leftover of an unregistered output (deleted below
                # when it is in the manifest), or a typo (reported by the caller).
                patterns.append(target)

    explicit = {t for t in targets or [] if t not in patterns}

    def in_scope(path: str) -> bool:
        found = registry.find(path)
        if found is not None and found[0].name in unlisted:
            return False
        if targets is None or path in explicit:
            return True
        return any(
            t == path or fnmatch.fnmatchcase(path, t) or (found is not None and t == found[0].name) for t in patterns
        )

    return list(jobs.values()), in_scope


# ---------------------------------------------------------------- publish


@contextlib.contextmanager
def _publish_lock(wait_seconds: float):
    try:
        lock = get_redis().lock(LOCK_KEY, timeout=LOCK_SECONDS, blocking_timeout=wait_seconds)
        acquired = lock.acquire()
    except RedisUnavailable:
        # Better an unguarded publish than none: the writes themselves are still atomic.
        logger.warning("publishing without the lock: Redis unavailable")
        yield
        return
    if not acquired:
        raise PublishBusy("another publish is running; try again shortly")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            lock.release()


def publish(
    *,
    targets: Iterable[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    trigger: str = PublishRun.Trigger.COMMAND,
    progress: Callable[[int, int, str], None] | None = None,
    storage=None,
    lock_wait_seconds: float = 30.0,
) -> PublishResult:
    """Render `targets` (None: everything; else output names, globs like `products/*`, or
    concrete paths) and bring the bucket in line: write what changed, skip what did not,
    delete files whose output no longer exists. A dry run renders and compares, writes nothing."""
    targets = None if targets is None else list(targets)
    started = time.monotonic()
    writer = CdnWriter(storage)
    result = PublishResult(dry_run=dry_run)
    # The run is recorded once we hold the lock: waiting for another publisher is not a failure.
    with _publish_lock(lock_wait_seconds):
        run = None
        if not dry_run:
            run = PublishRun.objects.create(
                trigger=trigger, targets="\n".join(targets or []), backend=writer.description[:200]
            )
            result.run_id = run.pk
        try:
            _publish(writer, targets, result, dry_run=dry_run, force=force, progress=progress)
        except Exception as exc:
            result.seconds = time.monotonic() - started
            if run is not None:
                _finish(run, result, error=f"{type(exc).__name__}: {exc}")
            raise
        result.seconds = time.monotonic() - started
        if run is not None:
            _finish(run, result)
    return result


def _finish(run: PublishRun, result: PublishResult, error: str = "") -> None:
    if not error and result.failed:
        error = "\n".join(f"{path}: {why}" for path, why in sorted(result.failed.items()))[:10000]
    run.finished_at = timezone.now()
    run.status = PublishRun.Status.FAILED if error else PublishRun.Status.OK
    run.written = len(result.written)
    run.unchanged = result.unchanged
    run.deleted = len(result.deleted)
    run.failed = len(result.failed)
    run.bytes_written = result.bytes_written
    run.error = error
    run.save(
        update_fields=["finished_at", "status", "written", "unchanged", "deleted", "failed", "bytes_written", "error"]
    )


def _publish(writer: CdnWriter, targets, result: PublishResult, *, dry_run: bool, force: bool, progress) -> None:
    manifest = manifest_load(writer)
    files = dict(manifest)
    jobs, in_scope = _plan(targets, result.failed)
    if targets is not None:
        unknown = [t for t in targets if not registry.is_pattern(t) and registry.find(t) is None and t not in manifest]
        for t in unknown:
            result.failed[t] = "no registered output has this path"
    desired: set[str] = set()
    total = len(jobs)
    for i, job in enumerate(jobs, 1):
        try:
            body = job.output.render_key(job.key)
        except Exception as exc:  # noqa: BLE001  a renderer may fail any way; the result reports it
            # One traceback per output is enough to debug; the same error on 300 products is noise.
            first = not any(registry.find(p) and registry.find(p)[0] is job.output for p in result.failed)
            logger.error("rendering %s failed: %s", job.path, exc, exc_info=first)
            result.failed[job.path] = f"{type(exc).__name__}: {exc}"
            desired.add(job.path)  # keep the last good file rather than delete it
            if progress:
                progress(i, total, job.path)
            continue
        if body is None:
            # Gone (deleted product, ended campaign): left out of `desired`, deleted below.
            if progress:
                progress(i, total, job.path)
            if job.path not in files and not dry_run and writer.local and writer.exists(job.path):
                files[job.path] = {}
            continue
        desired.add(job.path)
        entry = _entry(job.output, body)
        old = files.get(job.path)
        same = old is not None and all(old.get(k) == entry[k] for k in ("sha256", "content_type", "cache_control"))
        # A local folder is cheap to check: a file removed by hand is put back.
        if same and not force and (not writer.local or writer.exists(job.path)):
            result.unchanged += 1
        else:
            if not dry_run:
                writer.write(job.path, body, content_type=entry["content_type"], cache_control=entry["cache_control"])
                files[job.path] = entry
            result.written.append(job.path)
            result.bytes_written += len(body)
        if progress:
            progress(i, total, job.path)
    for path in sorted(files):
        if path in desired or not in_scope(path):
            continue
        if not dry_run:
            writer.delete(path)
            del files[path]
        result.deleted.append(path)
    if not dry_run and (files != manifest or not writer.exists(MANIFEST)):
        _manifest_save(writer, files)


# ---------------------------------------------------------------- verify


@dataclass
class VerifyResult:
    checked: int = 0
    ok: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # published, but the output no longer exists
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not (self.mismatched or self.missing or self.stale or self.failed)


def verify(*, targets: Iterable[str] | None = None, storage=None, progress=None) -> VerifyResult:
    """Fetch every published object from the storage and compare it with a fresh render."""
    targets = None if targets is None else list(targets)
    writer = CdnWriter(storage)
    result = VerifyResult()
    jobs, in_scope = _plan(targets, result.failed)
    manifest = manifest_load(writer)
    expected: set[str] = set()
    for i, job in enumerate(jobs, 1):
        result.checked += 1
        try:
            body = job.output.render_key(job.key)
        except Exception as exc:  # noqa: BLE001  a renderer may fail any way; the result reports it
            result.failed[job.path] = f"{type(exc).__name__}: {exc}"
            continue
        stored = writer.read(job.path)
        if body is None:
            if stored is not None:
                result.stale.append(job.path)
        elif stored is None:
            result.missing.append(job.path)
        elif stored != body:
            result.mismatched.append(job.path)
        else:
            result.ok.append(job.path)
        if body is not None:
            expected.add(job.path)
        if progress:
            progress(i, len(jobs), job.path)
    for path in sorted(manifest):
        if path not in expected and in_scope(path) and path not in result.stale and writer.read(path) is not None:
            result.stale.append(path)
    return result


# ---------------------------------------------------------------- change-driven republish


def publish_schedule(targets: Iterable[str]) -> None:
    """Republish these paths/patterns soon (debounced). Call it from a service after a change
    (`publish_schedule(["products/7.json", "products/7.html"])`); it waits for the current
    transaction to commit, so the task renders committed data."""
    targets = sorted({t for t in targets if t})
    if not targets:
        return

    def enqueue():
        window = debounce_seconds()
        try:
            r = get_redis()
            pipe = r.pipeline(transaction=True)
            pipe.sadd(PENDING_KEY, *targets)
            pipe.expire(PENDING_KEY, PENDING_TTL_SECONDS)
            pipe.execute()
            # The key outlives the window a little: a task that is late because workers are busy
            # still covers every change queued meanwhile (it deletes the key before draining).
            if not r.set(DEBOUNCE_KEY, 1, nx=True, px=int((window + 60) * 1000)):
                return
        except RedisUnavailable:
            logger.warning("republish of %s not scheduled: Redis unavailable (run `staticgen publish`)", targets)
            return
        from staticgen import tasks

        try:
            tasks.publish_pending.apply_async(countdown=window)
        except Exception:
            # The broker is Redis too; beat's sweep publishes the pending set once it is back.
            logger.warning("republish of %s not enqueued: broker unavailable", targets, exc_info=True)

    transaction.on_commit(enqueue, using="default")


def publish_pending() -> PublishResult | None:
    """The debounced task's body: take every pending target and publish just those."""
    r = get_redis()
    # Delete the debounce key BEFORE taking the targets: a change landing after this point
    # schedules a new task, and one landing before is in the set we take. Nothing is left behind.
    r.delete(DEBOUNCE_KEY)
    pipe = r.pipeline(transaction=True)
    pipe.smembers(PENDING_KEY)
    pipe.delete(PENDING_KEY)
    members, _ = pipe.execute()
    targets = sorted(m.decode() for m in members)
    if not targets:
        return None
    try:
        return publish(targets=targets, trigger=PublishRun.Trigger.TASK, lock_wait_seconds=10)
    except Exception:
        # Put them back so the retry (or beat's safety net) publishes them.
        r.sadd(PENDING_KEY, *targets)
        r.expire(PENDING_KEY, PENDING_TTL_SECONDS)
        raise


def pending_targets() -> list[str]:
    try:
        return sorted(m.decode() for m in get_redis().smembers(PENDING_KEY))
    except RedisUnavailable:
        return []
