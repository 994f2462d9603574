"""The suites fail exactly where the target is broken, and `azora e2e` / the fixtures say why.

- One `azora e2e` run of enrollment, payment and health against a stand-in whose payments are
  declined and whose payment service is unhealthy: exactly the checkout test and the payment
  health check fail, with a screenshot, video and trace each; enrollment stays green.
  (test_broken_target.py does the same for auth and a broken login.)
- Without Chromium the browser tests are skipped outside CI and fail in CI.
- The suites ship in the package (azora/e2e/suites), and the project's own pytest run does not
  collect them a second time.
- Bad input to `azora e2e` exits 2 before pytest runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from azora.commands.e2e import Suite
from azora.e2e import SUITES, SUITES_DIR, playwright_ffmpeg_env, suite_files
from azora.standin import run_standin

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
AZORA = str(Path(sys.executable).parent / "azora")


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _failed(junit: Path) -> set[str]:
    root = ET.parse(junit).getroot()
    return {
        f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }


def test_only_the_affected_tests_fail(chromium_executable: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    with run_standin(lifetime=300, payment_declined=True, unhealthy={"payment"}) as standin:
        # Short time-outs: a failing expectation otherwise waits its full 5 s.
        done = _run(
            [AZORA, "e2e", "--stack", "local", "--base-url", standin.base_url, "--report-dir", str(report),
             "--suite", "enrollment", "--suite", "payment", "--suite", "health"],
            env={"AZORA_E2E_TIMEOUT_MS": "2000"},
        )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Traceback (most recent call last)" not in done.stderr
    assert _failed(report / "junit.xml") == {
        "test_payment::test_check_out_and_pay_with_the_test_card[chromium]",
        "test_health::test_health_endpoint[chromium-payment]",
    }
    assert (report / "report.html").stat().st_size > 0
    for failed in ("check-out-and-pay", "health-endpoint-chromium-payment"):
        [folder] = [p for p in (report / "artifacts").iterdir() if failed in p.name]
        names = {p.name for p in folder.iterdir()}
        assert "trace.zip" in names and any(n.endswith(".png") for n in names), names
        # Video needs an ffmpeg (Debian's, see azora.e2e.video); without one it is dropped with a warning.
        assert ("video.webm" in names) == (playwright_ffmpeg_env() is not None), names


@pytest.mark.parametrize(("ci", "outcome"), [("", "skipped"), ("true", "failed")])
def test_missing_chromium_skips_outside_ci_and_fails_in_ci(ci: str, outcome: str) -> None:
    done = _run(
        [sys.executable, "-m", "pytest", *map(str, suite_files(["health"])), "-k", "auth", "-p", "no:cacheprovider",
         "--base-url", "http://127.0.0.1:9", "-rs"],
        env={"AZORA_CHROMIUM": "/nonexistent/chromium", "CI": ci},
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "Chromium not found at '/nonexistent/chromium'" in output, output[-2000:]
    if outcome == "skipped":
        assert done.returncode == 0 and "1 skipped" in output, output[-2000:]
    else:
        assert done.returncode == 1 and "1 error" in output and "must not be skipped" in output, output[-2000:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "staging.azora.example"], "--base-url: not an http(s) URL"),
        (["--base-url", "http://127.0.0.1:9", "--browser-path", "/nonexistent/chromium"], "Chromium not found"),
        (["--base-url", "http://127.0.0.1:9", "--suite", "billing"], "billing"),
    ],
)
def test_bad_input_exits_2_before_pytest_runs(args: list[str], message: str, tmp_path: Path) -> None:
    done = _run([AZORA, "e2e", "--stack", "local", "--report-dir", str(tmp_path / "r"), *args])
    assert done.returncode == 2, done
    assert message in " ".join((done.stdout + done.stderr).split())
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "r").exists()


def test_the_suite_option_lists_every_suite() -> None:
    assert tuple(s.value for s in Suite) == SUITES
    assert [f.name for f in suite_files([])] == [f"test_{suite}.py" for suite in SUITES]
    assert all(f.parent == SUITES_DIR and f.is_file() for f in suite_files([]))


def test_the_suites_ship_in_the_package_and_are_collected_once() -> None:
    assert SUITES_DIR.is_relative_to(ROOT / "azora")
    assert (SUITES_DIR / "__init__.py").is_file()  # a package: found by setuptools' packages.find
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert not [p for p in testpaths if SUITES_DIR.is_relative_to((ROOT / p).resolve())], testpaths


def test_video_uses_the_system_ffmpeg_through_a_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import azora.e2e.video as video

    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(video.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setattr(video.shutil, "which", lambda name: str(fake) if name == "ffmpeg" else None)
    env = {"PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "empty")}
    changes = playwright_ffmpeg_env(env)
    assert changes is not None and set(changes) == {"PLAYWRIGHT_BROWSERS_PATH"}
    [link] = Path(changes["PLAYWRIGHT_BROWSERS_PATH"]).glob("ffmpeg-*/ffmpeg-linux")
    assert link.resolve() == fake
    assert playwright_ffmpeg_env(changes) == {}  # Playwright now finds its ffmpeg: nothing to change
    monkeypatch.setattr(video.shutil, "which", lambda name: None)
    assert playwright_ffmpeg_env(env) is None  # no ffmpeg at all: no video
