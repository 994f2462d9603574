"""Integration fixtures: the real toolchain (built by `azora tools install`)."""

from __future__ import annotations

import pytest

from azora.toolchain import PULUMI_GROUP, Toolchain
from tests.conftest import required_toolchain


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return required_toolchain((PULUMI_GROUP,), "azora tools install")
