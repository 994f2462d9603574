"""Shared fixtures: mocked runs of the real program, cached per stack for the session, and
the built toolchain the engine and cluster suites need."""

from __future__ import annotations

import os

import pytest

from azora.toolchain import Toolchain, find_toolchain
from tests.mocked_program import ProgramRun, run_program

STACKS = ("local", "staging", "production")
_RUNS: dict[str, ProgramRun] = {}


def mocked_stack(stack: str) -> ProgramRun:
    """The unedited stack's mocked run (each run has its own fresh event loop)."""
    if stack not in _RUNS:
        run = run_program(stack)
        assert run.error is None, f"{stack}: {run.error}"
        _RUNS[stack] = run
    return _RUNS[stack]


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    return mocked_stack(request.param)


def required_toolchain(groups: tuple[str, ...], install: str) -> Toolchain:
    """The built toolchain with `groups`; without it the test fails under CI (which builds it)
    and is skipped elsewhere, saying which command installs it."""
    found = find_toolchain(groups)
    if found is None:
        message = f"toolchain {'+'.join(groups)} is not installed: run `{install}` (make test and CI do)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
