import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(**env):
    full = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    full.update(env, DJANGO_SETTINGS_MODULE="project.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    res = _load_settings(SURGE_ENV="production")
    assert res.returncode != 0
    assert "requires SECRET_KEY" in res.stderr


def test_production_refuses_debug():
    res = _load_settings(SURGE_ENV="production", SECRET_KEY="x" * 50, DEBUG="true")
    assert res.returncode != 0
    assert "refuses DEBUG" in res.stderr


def test_production_starts_with_a_secret_and_debug_off():
    res = _load_settings(SURGE_ENV="production", SECRET_KEY="x" * 50)
    assert res.returncode == 0, res.stderr
