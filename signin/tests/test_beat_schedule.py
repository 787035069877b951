from project.celery import app


def test_the_cache_repair_runs_on_beat():
    entry = app.conf.beat_schedule["signin-repair-cache"]
    assert entry["task"] == "signin.tasks.repair_cache"
