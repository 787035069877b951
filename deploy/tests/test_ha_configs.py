"""The production HA files (Patroni, etcd, pgBackRest, HAProxy) hold together: the numbers
Patroni insists on, three etcd members that Patroni knows, one stanza everywhere, and units
that `systemd-analyze verify` accepts."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

DEPLOY = Path(__file__).resolve().parent.parent
ROOT = DEPLOY.parent
PATRONI = yaml.safe_load((DEPLOY / "patroni" / "patroni.yml").read_text())


def etcd_env() -> dict[str, str]:
    lines = (DEPLOY / "etcd" / "etcd.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_patroni_timings_are_ones_patroni_accepts_and_rewind_is_on():
    dcs = PATRONI["bootstrap"]["dcs"]
    assert dcs["ttl"] >= 20  # Patroni refuses less
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["parameters"]["wal_log_hints"] == "on"
    assert dcs["synchronous_mode"] is True


def test_patroni_knows_the_three_etcd_members():
    members = re.findall(r"(\w+)=http://([\w.]+):2380", etcd_env()["ETCD_INITIAL_CLUSTER"])
    assert len(members) == 3
    assert sorted(h.split(":")[0] for h in PATRONI["etcd3"]["hosts"]) == sorted(host for _n, host in members)


def test_archive_command_and_pgbackrest_name_the_same_stanza_and_data_directory():
    archive = PATRONI["bootstrap"]["dcs"]["postgresql"]["parameters"]["archive_command"]
    conf = configparser.ConfigParser()
    conf.read_string((DEPLOY / "patroni" / "pgbackrest.conf").read_text())
    stanza = re.search(r"--stanza=(\w+)", archive).group(1)
    assert "archive-push %p" in archive
    assert conf[stanza]["pg1-path"] == PATRONI["postgresql"]["data_dir"]
    assert int(conf["global"]["repo1-retention-full"]) >= 2


def test_haproxy_alternative_checks_patroni_primary_endpoint():
    text = (DEPLOY / "patroni" / "haproxy.cfg").read_text()
    assert "GET /primary" in text and "GET /replica" in text
    assert f"port {PATRONI['restapi']['listen'].rsplit(':', 1)[1]}" in text
    haproxy = shutil.which("haproxy")
    if haproxy:
        res = subprocess.run(
            [haproxy, "-c", "-f", str(DEPLOY / "patroni" / "haproxy.cfg")], capture_output=True, text=True
        )
        # The hosts do not resolve here; everything else must parse.
        assert res.returncode == 0 or "could not resolve address" in res.stderr, res.stderr


def test_ha_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed")
    venv = Path(os.environ.get("SURGE_PATRONI_VENV") or ROOT / ".devstack" / "patroni-venv")
    if not (venv / "bin" / "patroni").exists() or not Path("/usr/bin/etcd").exists():
        pytest.skip(
            "verify checks ExecStart exists: needs etcd-server and Patroni's venv (devstack.py up --pg patroni)"
        )
    for name in ("surge-etcd.service", "surge-patroni.service"):
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/patroni/venv/bin/", f"{venv}/bin/")
        (tmp_path / name).write_text(text)
    res = subprocess.run(
        [analyze, "verify", "--man=no", "surge-etcd.service", "surge-patroni.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    problems = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert res.returncode == 0 and not problems, "\n".join(problems)
