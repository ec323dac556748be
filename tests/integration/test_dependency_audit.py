"""The dependency audit (scripts/audit.sh, `make audit`): skipped and said so when the
advisory data cannot be reached, failing on a pin with a known advisory when it can."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
# Jinja2 3.1.4 has published advisories (CVE-2024-56201, CVE-2024-56326, CVE-2025-27516).
VULNERABLE_LOCK = "jinja2==3.1.4 \\\n    --hash=sha256:" + "0" * 64 + "\n"


def audit(lock: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    extra = {"NUMPROXY_AUDIT_LOCK": str(lock)} if lock else {}
    return subprocess.run(
        ["bash", str(ROOT / "scripts/audit.sh")],
        env={**os.environ, **extra, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_the_advisory_data_the_audit_is_skipped_and_says_so() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # a proxy nobody listens on
    result = audit(https_proxy=nowhere, HTTPS_PROXY=nowhere)
    assert result.returncode == 0, result.stderr
    assert "dependency audit SKIPPED" in result.stderr


def test_a_pin_with_a_known_advisory_fails_the_audit(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(VULNERABLE_LOCK)
    result = audit(lock)
    if "dependency audit SKIPPED" in result.stderr:
        pytest.skip("PyPI's advisory data cannot be reached from this machine")
    assert result.returncode != 0
    assert "jinja2" in result.stdout.lower() and "3.1.4" in result.stdout
