"""The pinned requirements audited for known vulnerabilities (pip-audit, PyPI's advisory data)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A known vulnerability we accept must be named here with the reason, e.g.
# {"GHSA-xxxx-xxxx-xxxx": "only in the admin's X, which Surge does not enable"}.
ACCEPTED: dict[str, str] = {}


def test_no_pinned_requirement_has_a_known_vulnerability_left_unexplained():
    audit = shutil.which("pip-audit", path=str(Path(sys.executable).parent))
    if audit is None:
        pytest.skip("pip-audit is not installed (it is in requirements.txt)")
    res = subprocess.run(
        [audit, "-r", str(ROOT / "requirements.txt"), "--no-deps", "--disable-pip", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(res.stdout)
    except ValueError:
        pytest.skip(f"pip-audit could not reach its advisory service: {res.stderr.strip()[-300:]}")
    deps = report["dependencies"]
    audited = [d for d in deps if not d.get("skip_reason")]
    found = {
        v["id"]: f"{d['name']} {d['version']}" for d in audited for v in d.get("vulns", []) if v["id"] not in ACCEPTED
    }
    assert not found, f"known vulnerabilities in pinned requirements: {found}"
    if not audited:
        pytest.skip(f"the advisory service knows none of the {len(deps)} pinned versions here; nothing was audited")
