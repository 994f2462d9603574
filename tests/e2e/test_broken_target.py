"""`azora e2e` as a user runs it: green against a healthy stand-in, red (with artifacts)
against one whose login is broken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from azora.standin import run_standin

pytestmark = pytest.mark.e2e

AZORA = Path(sys.executable).parent / "azora"


def _e2e(base_url: str, report_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(AZORA),
            "e2e",
            "--stack",
            "test",
            "--base-url",
            base_url,
            "--suite",
            "auth",
            "--report-dir",
            str(report_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_auth_suite_passes_then_fails_when_login_breaks(chromium_executable: Path, tmp_path: Path) -> None:
    with run_standin(lifetime=600) as standin:
        healthy = _e2e(standin.base_url, tmp_path / "healthy")
        standin.set(login_broken=True)
        broken = _e2e(standin.base_url, tmp_path / "broken")
    assert healthy.returncode == 0, healthy.stdout[-2000:]
    assert broken.returncode == 1, broken.stdout[-2000:]
    assert "Traceback (most recent call last)" not in broken.stderr
    artifacts = [p.name for p in (tmp_path / "broken").rglob("*") if p.suffix in (".png", ".zip")]
    assert any(name.endswith(".png") for name in artifacts), artifacts
    assert any(name == "trace.zip" for name in artifacts), artifacts
    assert (tmp_path / "broken" / "junit.xml").exists() or list((tmp_path / "broken").glob("*.xml"))
