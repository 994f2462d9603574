"""Shared fixtures: mocked runs of the real program, cached per stack for the session."""

from __future__ import annotations

import pytest

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
