"""Integration fixtures: the real toolchain (built by `azora tools install`) and the Prometheus binary
its cluster group builds (`azora tools install --with cluster`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from azora.toolchain import CLUSTER_GROUP, PULUMI_GROUP, Toolchain
from tests.conftest import required_toolchain


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return required_toolchain((PULUMI_GROUP,), "azora tools install")


@pytest.fixture(scope="module")
def prometheus_binary() -> Path:
    """The toolchain's Prometheus, where the product finds it (the toolchain's bin directory)."""
    return required_toolchain((CLUSTER_GROUP,), "azora tools install --with cluster").bin_dir / "prometheus"
