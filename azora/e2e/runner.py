"""Running the shipped suites: which files, the pytest command line, the run.

The suites ship in this package (`azora/e2e/suites/`), so `azora e2e` works from an installed
package as well as from a checkout. pytest runs in the caller's working directory, where the
health suite looks for `Pulumi.<stack>.yaml` (as `azora smoke` does).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from azora.e2e.chromium import CHROMIUM_ENV
from azora.e2e.errors import E2EInputError

SUITES = ("auth", "enrollment", "payment", "health")
SUITES_DIR = Path(__file__).resolve().parent / "suites"


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


def suite_files(suites: Sequence[str]) -> list[Path]:
    """suites/test_<suite>.py for each suite (all of them when none is named), in order."""
    chosen = list(dict.fromkeys(suites)) or list(SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise E2EInputError(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    files = [SUITES_DIR / f"test_{suite}.py" for suite in chosen]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise E2EInputError(f"browser suites not found ({', '.join(missing)}): reinstall the azora package")
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
    completed = subprocess.run(pytest_command(plan), env=env, check=False)
    return completed.returncode
