"""Two beats, exactly one active, through the lock in Redis (project/beat.py): real beat
processes, a real worker, SIGKILL of the active beat."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest

from project import beat, testing
from project.celery import app
from project.redis import get_redis

LOCK_SECONDS = 3
SHORT = 10.0  # jobs at most this far apart are checked in the test's windows


@pytest.fixture
def clean_beat_keys():
    get_redis().delete(beat.LOCK_KEY, beat.RUNS_KEY)
    yield
    get_redis().delete(beat.LOCK_KEY, beat.RUNS_KEY)


def test_one_lock_holder_at_a_time_renewal_release_and_expiry(clean_beat_keys):
    a, b = beat.BeatLock(seconds=1, holder="a"), beat.BeatLock(seconds=1, holder="b")

    assert a.acquire_or_renew() and not b.acquire_or_renew()
    assert beat.holder() == "a"
    a.renewed_at -= 1  # a third of the lock time has passed: the next call renews
    assert a.acquire_or_renew() and get_redis().pttl(beat.LOCK_KEY) > 900
    a.release()
    assert beat.holder() is None
    assert b.acquire_or_renew() and beat.holder() == "b"

    # b stops renewing (SIGKILL, lost host): the lock expires and a takes it; b finds out.
    time.sleep(1.2)
    assert a.acquire_or_renew()
    b.renewed_at -= 1
    assert not b.acquire_or_renew() and not b.held
    b.release()  # not its lock any more: a keeps it
    assert beat.holder() == "a"


@pytest.mark.disruptive
def test_a_beat_that_cannot_reach_redis_stops_sending_and_metrics_have_no_figure(client, devstack, clean_beat_keys):
    lock = beat.BeatLock(seconds=1, holder="a")
    assert lock.acquire_or_renew()
    devstack.stop("redis")
    lock.renewed_at -= 1
    assert not lock.acquire_or_renew() and not lock.held
    assert "surge_beat_active" not in client.get("/metrics").content.decode()
    lock.release()  # nothing to release: no error either
    devstack.start("redis")
    time.sleep(1.1)  # its old lock expired meanwhile
    assert lock.acquire_or_renew()


def test_metrics_say_whether_a_beat_holds_the_lock(client, clean_beat_keys):
    assert "surge_beat_active 0.0" in client.get("/metrics").content.decode()
    beat.BeatLock(seconds=5, holder="x").acquire_or_renew()
    assert "surge_beat_active 1.0" in client.get("/metrics").content.decode()


def short_jobs() -> set[str]:
    return {e["task"] for e in app.conf.beat_schedule.values() if float(e["schedule"]) <= SHORT}


def runs_by(holder: str, after: float = 0.0) -> list[dict]:
    return [r for r in beat.recent_runs() if r["by"] == holder and r["at"] > after]


def test_killing_the_active_beat_hands_over_within_seconds_and_every_due_job_runs(
    celery_worker, tmp_path, clean_beat_keys
):
    env = {"BEAT_LOCK_SECONDS": LOCK_SECONDS, "SIGNIN_REPAIR_SECONDS": 5}
    (tmp_path / "b1").mkdir()
    (tmp_path / "b2").mkdir()
    first = testing.BeatProcess(tmp_path / "b1", **env)
    second = None
    try:
        h1 = testing.wait_until(beat.holder, 30, "the first beat takes the lock", log=first.log)
        assert f":{first.proc.pid}:" in h1
        second = testing.BeatProcess(tmp_path / "b2", **env)
        standby_since = time.time()

        # Both run; only the first sends. Every short job runs, from it alone.
        time.sleep(SHORT + 2)
        assert beat.holder() == h1
        by_first = {r["task"] for r in runs_by(h1)}
        assert by_first >= short_jobs(), f"jobs that never ran: {short_jobs() - by_first}"
        assert {r["by"] for r in beat.recent_runs()} == {h1}, "the standby sent nothing"

        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=10)
        killed_at = time.time()
        h2 = testing.wait_until(
            lambda: (h := beat.holder()) and h != h1 and h, 30, "the standby takes the lock", log=second.log
        )
        assert f":{second.proc.pid}:" in h2
        took_over = time.time()
        # Every job that fell due while nobody sent (all the short ones: the standby has been up
        # longer than their period) runs right after the handover.
        time.sleep(3)
        first_runs = {}
        for r in runs_by(h2):
            first_runs.setdefault(r["task"], r["at"])
        assert set(first_runs) >= {t for t in short_jobs() if took_over - standby_since > SHORT}, first_runs
        assert all(at >= killed_at for at in first_runs.values())
        handover = min(first_runs.values()) - killed_at
        print(f"handover: lock taken {took_over - killed_at:.1f}s, first job sent {handover:.1f}s after SIGKILL")
        assert handover < LOCK_SECONDS + 5  # generous: two cores shared by several sessions

        # Afterwards jobs keep running, all from the new beat; the drain keeps its 1 s rhythm.
        time.sleep(3)
        late = [r for r in beat.recent_runs() if r["at"] > took_over + 1]
        assert late and {r["by"] for r in late} == {h2}
        drains = [r["at"] for r in runs_by(h2) if r["task"] == "project.tasks.drain_queues"]
        assert len(drains) >= 4

        # A beat stopped cleanly gives the lock back at once.
        second.stop()
        assert beat.holder() is None
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_every_way_of_starting_beat_uses_the_locked_scheduler(settings):
    assert settings.CELERY_BEAT_SCHEDULER == "project.beat:LockedScheduler"
    assert app.conf.beat_scheduler == "project.beat:LockedScheduler"
    for path in ("deploy/systemd/surge-beat.service", "deploy/Procfile.dev"):
        text = (testing.ROOT / path).read_text()
        assert "beat --scheduler project.beat:LockedScheduler" in text, path


def test_beat_status_command_names_the_active_beat_and_the_last_runs(clean_beat_keys):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as no_beat:
        call_command("beat", "status", stdout=io.StringIO())
    assert no_beat.value.returncode == 1

    beat.BeatLock(seconds=5, holder="host1:42:abc").acquire_or_renew()
    beat.record_run("project.tasks.drain_queues", "host1:42:abc")
    out = io.StringIO()
    call_command("beat", "status", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["active"] == "host1:42:abc" and 0 < report["lock_ms_left"] <= 5000
    drain = next(j for j in report["jobs"] if j["entry"] == "drain-queues")
    assert drain["last_sent_by"] == "host1:42:abc" and drain["last_run_seconds_ago"] < 5
    text = io.StringIO()
    call_command("beat", "status", stdout=text)
    assert "active beat: host1:42:abc" in text.getvalue()


def test_a_paused_beat_that_lost_its_lock_sends_nothing_when_it_wakes(celery_worker, tmp_path, clean_beat_keys):
    """SIGSTOP the active beat longer than its lock (a host cut off or frozen, not dead): the
    standby takes over, and the old one, resumed, finds the lock gone and stays standby."""
    env = {"BEAT_LOCK_SECONDS": LOCK_SECONDS}
    (tmp_path / "b1").mkdir()
    (tmp_path / "b2").mkdir()
    first = testing.BeatProcess(tmp_path / "b1", **env)
    second = None
    try:
        h1 = testing.wait_until(beat.holder, 30, "the first beat takes the lock", log=first.log)
        second = testing.BeatProcess(tmp_path / "b2", **env)
        testing.wait_until(lambda: runs_by(h1), 15, "the first beat sends", log=first.log)

        os.kill(first.proc.pid, signal.SIGSTOP)
        try:
            h2 = testing.wait_until(
                lambda: (h := beat.holder()) and h != h1 and h, 30, "the standby takes the lock", log=second.log
            )
            time.sleep(1)
        finally:
            os.kill(first.proc.pid, signal.SIGCONT)
        resumed_at = time.time()
        time.sleep(LOCK_SECONDS + 2)

        assert beat.holder() == h2
        # A job the frozen beat had handed to the broker before the stop may still be running
        # as it wakes; nothing it sends after waking is.
        assert runs_by(h1, after=resumed_at + 1) == []
        assert runs_by(h2, after=resumed_at + 1)
        assert "beat lock lost" in first.log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first.proc.pid, signal.SIGCONT)
        first.stop()
        if second is not None:
            second.stop()
