"""Browser suite fixtures: Debian's Chromium, the target URL (or a stand-in), short time-outs.

- The browser is the system Chromium (`$AZORA_CHROMIUM`, default /usr/bin/chromium) launched
  with the flags this machine needs (azora.e2e.CHROMIUM_ARGS); nothing is downloaded.
- `--base-url URL` targets a running app; without it a stand-in (azora.standin) is started
  for the session on a free port of 127.0.0.1 and stopped at the end.
- No Chromium: the browser tests are skipped with the reason, except in CI (CI=true), where
  they fail, so that a CI machine missing its browser cannot pass by skipping them.
- The `e2e` marker is registered here, so the suites run the same from an installed package
  (no project pytest configuration) as from a checkout.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from azora.e2e import CHROMIUM_ARGS, E2EInputError, playwright_ffmpeg_env, resolve_chromium
from azora.standin import run_standin

# Playwright's defaults (30 s per action) make a broken page cost minutes; these pages are small.
ACTION_TIMEOUT_MS = int(os.environ.get("AZORA_E2E_TIMEOUT_MS", "10000"))
EXPECT_TIMEOUT_MS = min(ACTION_TIMEOUT_MS, 5000)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives a real headless Chromium")
    # Video needs Playwright's ffmpeg, which it would download; use the system one or go without.
    if config.getoption("--video", default="off") == "off":
        return
    changes = playwright_ffmpeg_env()
    if changes is None:
        warnings.warn("no ffmpeg for Playwright: videos are not recorded (apt-get install ffmpeg)", stacklevel=1)
        config.option.video = "off"
        return
    os.environ.update(changes)  # before the `playwright` fixture starts the driver, which reads it


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    try:
        return resolve_chromium(None)
    except E2EInputError as exc:
        if in_ci():
            pytest.fail(f"{exc} (CI=true: browser tests must not be skipped)", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], chromium_executable: Path) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(chromium_executable), "args": list(CHROMIUM_ARGS)}


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> Iterator[str]:
    given = pytestconfig.getoption("--base-url", default=None) or pytestconfig.getini("base_url")
    if given:
        yield str(given).rstrip("/")
        return
    with run_standin() as standin:
        yield standin.base_url


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    page.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    return page
