"""Test settings: the same live stores, on their own Redis database and test database."""

import os
from pathlib import Path

from project.settings import *  # noqa: F403  the settings it extends
from project.settings import CACHES, DATABASES, REDIS_URL, redis_locations

SURGE_ENV = "test"
DEBUG = False

# Tests use their own Redis database so a FLUSHDB in a test never touches dev data.
TEST_REDIS_DB = int(os.environ.get("SURGE_TEST_REDIS_DB", "1"))
_base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") >= 3 else REDIS_URL
REDIS_URL = f"{_base}/{TEST_REDIS_DB}"
CACHES["default"]["LOCATION"], CELERY_BROKER_URL = redis_locations(TEST_REDIS_DB)

# A process started by a test (a Celery worker, a gunicorn) points at the test database.
if os.environ.get("SURGE_TEST_DB_NAME"):
    for alias in ("default", "replica"):
        DATABASES[alias]["NAME"] = os.environ["SURGE_TEST_DB_NAME"]
# The replica alias mirrors the primary (same server, its own connection): tests never depend
# on replication lag. The real streaming replica is exercised by the router's integration tests
# and by processes they start with SURGE_TEST_REAL_REPLICA=1 (the test database replicates too).
if os.environ.get("SURGE_TEST_REAL_REPLICA") != "1":
    for _k in ("HOST", "PORT", "USER", "PASSWORD"):
        DATABASES["replica"][_k] = DATABASES["default"][_k]
    # With multi-host URLs (Patroni) the mirror must also land on the primary, not a standby.
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("SURGE_TEST_DB", "test_surge")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES}  # noqa: F405  from the star import
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
CDN_ROOT = Path(os.environ.get("SURGE_DEVSTACK_DIR", BASE_DIR / ".devstack")) / "test-cdn"  # noqa: F405  from the star import
STORAGES["cdn"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(CDN_ROOT), "base_url": "/cdn/"},
}
CDN_ROOT_FOR_TESTS = CDN_ROOT
LOGGING["root"]["level"] = os.environ.get("SURGE_TEST_LOG_LEVEL", "WARNING")  # noqa: F405  from the star import
# The suite logs in and registers hundreds of users from one address; the throttle's own tests
# set their limits low.
LOGIN_RATE_PER_IP = LOGIN_RATE_PER_USERNAME = REGISTER_RATE_PER_IP = "100000/m"
# A worker a test wants to SIGKILL mid-batch holds its batches uncommitted (project/tests/slow_drain.py).
if os.environ.get("SURGE_TEST_DRAIN_PAUSE_SECONDS"):
    CELERY_IMPORTS = ["project.tests.slow_drain"]
