"""Fixtures of the tests that run the shipped browser suites (azora/e2e/suites) through `azora e2e`.

`chromium_executable`: Debian's Chromium, as the suites find it; without one these tests are
skipped with the reason, except in CI (CI=true), where they fail, like the suites themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from azora.e2e import E2EInputError, resolve_chromium


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    try:
        return resolve_chromium(None)
    except E2EInputError as exc:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"{exc} (CI=true: browser tests must not be skipped)", pytrace=False)
        pytest.skip(str(exc))
