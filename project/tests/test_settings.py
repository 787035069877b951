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


def _production(*args: str, **env) -> subprocess.CompletedProcess:
    # As a production host runs it: no test-only switches (the suite allows async-unsafe ORM use).
    dropped = ("SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    full = {k: v for k, v in os.environ.items() if k not in dropped}
    full.update(
        SURGE_ENV="production",
        SECRET_KEY="k" * 20 + "-a-long-random-production-secret-" + "z" * 20,
        ALLOWED_HOSTS="surge.example",
        DJANGO_SETTINGS_MODULE="project.settings",
        **env,
    )
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=full, capture_output=True, text=True)


def test_manage_check_deploy_is_clean_under_production_settings():
    res = _production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no issues" in res.stdout


def test_production_answers_with_the_security_headers_and_redirects_plain_http():
    script = """
import django; django.setup()
from django.test import Client
c = Client(SERVER_NAME="surge.example")
plain = c.get("/")
print("redirect", plain.status_code, plain.get("Location"))
print("probe", c.get("/healthz").status_code)
tls = c.get("/healthz", HTTP_X_FORWARDED_PROTO="https")
for h in ("Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
          "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"):
    print(h, "=", tls.get(h))
"""
    res = _production("-c", script)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "redirect 301 https://surge.example/" in out
    assert "probe 200" in out  # load-balancer probes reach the app over plain HTTP
    assert "Strict-Transport-Security = max-age=31536000; includeSubDomains" in out
    assert "script-src 'self'" in out and "frame-ancestors 'none'" in out and "object-src 'none'" in out
    assert "X-Content-Type-Options = nosniff" in out and "X-Frame-Options = DENY" in out
    assert "Referrer-Policy = same-origin" in out and "Cross-Origin-Opener-Policy = same-origin" in out


def _redis_settings(**env) -> dict:
    """CACHES' client, its LOCATION and the Celery broker URL under these Redis settings."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_"))}
    full.update(env, DJANGO_SETTINGS_MODULE="project.settings", SURGE_DEVSTACK_DIR="/nonexistent")
    code = (
        "import json; from django.conf import settings as s; c = s.CACHES['default'];"
        "print(json.dumps([c['OPTIONS']['CLIENT_CLASS'], c['LOCATION'], s.CELERY_BROKER_URL,"
        " s.REDIS_WAIT_REPLICAS]))"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    import json

    client, location, broker, wait = json.loads(res.stdout)
    return {"client": client, "location": location, "broker": broker, "wait": wait}


def test_cluster_nodes_put_the_data_plane_on_the_cluster_and_the_broker_beside_it():
    got = _redis_settings(REDIS_CLUSTER_NODES="10.0.0.1:7000,10.0.0.2:7000", REDIS_BROKER_URL="redis://b:6379/0")
    assert got == {
        "client": "project.redis_cluster.ClusterClient",
        "location": "redis://10.0.0.1:7000/0",
        "broker": "redis://b:6379/0",
        "wait": 1,
    }


def test_sentinels_beside_cluster_nodes_serve_the_celery_broker_alone():
    got = _redis_settings(REDIS_CLUSTER_NODES="10.0.0.1:7000", REDIS_SENTINELS="10.0.0.9:26379,10.0.0.8:26379")
    assert got["client"] == "project.redis_cluster.ClusterClient"
    assert got["broker"] == "sentinel://10.0.0.9:26379/0;sentinel://10.0.0.8:26379/0"
