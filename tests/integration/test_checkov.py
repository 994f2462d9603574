"""An independent reader agrees: checkov's Kubernetes checks on the rendered production stack.

The stack is rendered as a user renders it (`azora render`, the real engine, third-party charts
left out: they are not ours to annotate), then scanned by the pinned checkov from its own
virtualenv (`make checkov`). No check may fail; every deliberate difference is a skip written by
the component on the object, and each must carry its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from azora.toolchain import Toolchain
from azora.toolchain.paths import checkov_dir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AZORA = Path(sys.executable).parent / "azora"
CHECKOV = checkov_dir() / "bin" / "checkov"
PINS = Path(__file__).with_name("checkov-requirements.txt")
SERVICES = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]
# The differences the README explains (its checkov paragraph), and no others: a tag without a
# digest and its IfNotPresent; secrets as env vars only for a service with `secretsAsEnv`.
DELIBERATE = {"CKV_K8S_15", "CKV_K8S_43", "CKV_K8S_35"}
# checkov runs about 90 checks on each Deployment and ~10 on the smaller objects: over 1,000 on
# production. Far fewer means the render or the scan lost objects, not that the stack got better.
MIN_PASSED = 800


def _pinned_version() -> str:
    for line in PINS.read_text().splitlines():
        if line.startswith("checkov=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{PINS.name} pins no checkov version")


@pytest.fixture(scope="module")
def checkov() -> Path:
    """The pinned checkov; its absence fails the test with the command that installs it."""
    wanted = _pinned_version()
    install = "make checkov (make tools and .ci/run do)"
    if not CHECKOV.exists():
        pytest.fail(f"checkov {wanted} is not installed at {CHECKOV}: run `{install}`")
    found = subprocess.run([str(CHECKOV), "--version"], capture_output=True, text=True, timeout=120, check=False)
    if found.stdout.strip() != wanted:
        pytest.fail(
            f"checkov at {CHECKOV} is {found.stdout.strip() or found.stderr[-300:]!r}, not {wanted}: run `{install}`"
        )
    return CHECKOV


def _scan(checkov: Path, directory: Path) -> dict[str, Any]:
    done = subprocess.run(
        # --skip-download: only the checks shipped in the pinned package, nothing fetched.
        [str(checkov), "-d", str(directory), "--framework", "kubernetes", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # checkov exits 1 when a check fails; anything else but 0 is checkov itself failing.
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(done.stdout)
    # One framework gives one report; checkov prints a list only for several.
    return report[0] if isinstance(report, list) else report


def test_checkov_passes_the_rendered_production_stack(toolchain: Toolchain, checkov: Path, tmp_path: Path) -> None:
    out = tmp_path / "production"
    rendered = subprocess.run(
        [str(AZORA), "render", "--stack", "production", "--out", str(out), "--charts", "skip"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]

    report = _scan(checkov, out)
    summary, results = report["summary"], report["results"]
    assert summary["checkov_version"] == _pinned_version()
    failed = [f"{c['check_id']} {c['check_name']}: {c['resource']}" for c in results["failed_checks"]]
    assert failed == [], "checkov failed:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, results["parsing_errors"]
    assert summary["passed"] >= MIN_PASSED, summary

    skipped = results["skipped_checks"]
    unexplained = [
        f"{c['check_id']}: {c['resource']}"
        for c in skipped
        if c["check_result"].get("suppress_comment", "No comment provided").strip() in ("", "No comment provided")
    ]
    assert unexplained == [], "skips without a reason:\n" + "\n".join(unexplained)
    assert {c["check_id"] for c in skipped} <= DELIBERATE

    # Every colour of every service was read and judged (the checks run on each Deployment).
    judged = {c["resource"] for c in results["passed_checks"]}
    deployments = {f"Deployment.azora-production.{s}-{c}" for s in SERVICES for c in ("blue", "green")}
    assert deployments <= judged
