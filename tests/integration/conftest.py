"""Integration fixtures: the real toolchain (built by `azora tools install`)."""

from __future__ import annotations

import os

import pytest

from azora.toolchain import Toolchain, find_toolchain


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    found = find_toolchain()
    if found is None:
        message = "no Pulumi toolchain: run `azora tools install` (CI does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
