"""Run the browser suites (tests/e2e, pytest-playwright) against a URL with Debian's Chromium.

Nothing is downloaded: Playwright drives the system Chromium through `executable_path`
(never `playwright install`). Playwright records video through an ffmpeg of its own, which it
would download; `playwright_ffmpeg_env` points it at the system ffmpeg instead, if there is one.

Reports, under the report directory: `junit.xml`, `report.html` (pytest-html, self-contained,
with the failure screenshots and videos embedded) and `artifacts/<test>/` (screenshot, video,
trace.zip of each failed test; open a trace with `playwright show-trace FILE`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SUITES = ("auth", "enrollment", "payment", "health")
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "AZORA_CHROMIUM"
# Flags Debian's Chromium needs here: we run as root (no sandbox), there is no GPU, /dev/shm is
# small in containers, and the network is closed, so every background fetch only adds noise.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUITES_DIR = PROJECT_ROOT / "tests" / "e2e"


class E2EInputError(Exception):
    """Bad input or a missing prerequisite: the command exits 2."""


@dataclass(frozen=True)
class E2EPlan:
    """Everything one run needs; `pytest_command` turns it into a command line."""

    stack: str
    base_url: str
    chromium: Path
    suites: tuple[str, ...]
    report_dir: Path
    headed: bool = False

    @property
    def junit(self) -> Path:
        return self.report_dir / "junit.xml"

    @property
    def html(self) -> Path:
        return self.report_dir / "report.html"

    @property
    def artifacts(self) -> Path:
        return self.report_dir / "artifacts"


def resolve_chromium(explicit: str | None, env: Mapping[str, str] = os.environ) -> Path:
    """The Chromium to drive: `--browser-path`, else $AZORA_CHROMIUM, else /usr/bin/chromium.

    Raises E2EInputError when it is not an executable file, saying how to install it.
    """
    candidate = explicit or env.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    found = candidate if os.path.isabs(candidate) else shutil.which(candidate)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise E2EInputError(
            f"Chromium not found at {candidate!r}: install Debian's (`apt-get install -y chromium`) "
            f"or point --browser-path / ${CHROMIUM_ENV} at a Chromium executable"
        )
    return Path(found)


def suite_files(suites: Sequence[str]) -> list[Path]:
    """tests/e2e/test_<suite>.py for each suite (all of them when none is named), in order."""
    chosen = list(dict.fromkeys(suites)) or list(SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise E2EInputError(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    files = [SUITES_DIR / f"test_{suite}.py" for suite in chosen]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise E2EInputError(f"browser suites not found ({', '.join(missing)}): run from a checkout of the project")
    return files


def check_plugins() -> None:
    """pytest-playwright and pytest-html must be installed (they are in the dev extra)."""
    missing = [name for name in ("pytest_playwright", "pytest_html") if importlib.util.find_spec(name) is None]
    if missing:
        raise E2EInputError(f"missing Python packages {', '.join(missing)}: pip install -e '.[dev]'")


def pytest_command(plan: E2EPlan, python: str = sys.executable) -> list[str]:
    """The pytest command line; artifacts are kept only for failed tests."""
    command = [
        python,
        "-m",
        "pytest",
        *(str(f) for f in suite_files(plan.suites)),
        "-m",
        "e2e",
        "-p",
        "no:cacheprovider",
        "--base-url",
        plan.base_url,
        "--browser",
        "chromium",
        "--screenshot",
        "only-on-failure",
        "--video",
        "retain-on-failure",
        "--tracing",
        "retain-on-failure",
        "--output",
        str(plan.artifacts),
        f"--junitxml={plan.junit}",
        "-o",
        f"junit_suite_name=e2e-{plan.stack}",
        f"--html={plan.html}",
        "--self-contained-html",
    ]
    if plan.headed:
        command.append("--headed")
    return command


def run(plan: E2EPlan, extra_env: Mapping[str, str] | None = None) -> int:
    """Run the suites; pytest's output goes straight to the terminal; returns its exit code."""
    plan.report_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, CHROMIUM_ENV: str(plan.chromium), "AZORA_E2E_STACK": plan.stack, **(extra_env or {})}
    completed = subprocess.run(pytest_command(plan), cwd=PROJECT_ROOT, env=env, check=False)
    return completed.returncode


def playwright_ffmpeg_env(env: Mapping[str, str] = os.environ) -> dict[str, str] | None:
    """Environment changes that let Playwright record video with the system ffmpeg.

    Returns {} when Playwright already has its ffmpeg, the PLAYWRIGHT_BROWSERS_PATH to set
    when a shim directory pointing at the system ffmpeg was made, and None when video cannot
    be recorded (no ffmpeg on PATH, or not Linux).
    """
    revision = _ffmpeg_revision()
    if revision is None or not sys.platform.startswith("linux"):
        return None
    relative = Path(f"ffmpeg-{revision}") / "ffmpeg-linux"
    current = env.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    if (Path(current) / relative).is_file():
        return {}
    system_ffmpeg = shutil.which("ffmpeg")
    if system_ffmpeg is None:
        return None
    shim_root = Path(tempfile.gettempdir()) / f"azora-playwright-{os.getuid()}"
    link = shim_root / relative
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_file():
        link.unlink(missing_ok=True)  # a dangling link from an ffmpeg since removed
        link.symlink_to(system_ffmpeg)
    return {"PLAYWRIGHT_BROWSERS_PATH": str(shim_root)}


def _ffmpeg_revision() -> str | None:
    """The ffmpeg build revision the installed Playwright driver expects (browsers.json)."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or spec.origin is None:
        return None
    browsers = Path(spec.origin).parent / "driver" / "package" / "browsers.json"
    try:
        entries = json.loads(browsers.read_text())["browsers"]
    except (OSError, ValueError, KeyError):
        return None
    for entry in entries:
        if entry.get("name") == "ffmpeg":
            return str(entry["revision"])
    return None
