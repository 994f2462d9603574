"""Shared fixtures: mocked runs of the real program, run once per stack for the session, and
the built toolchain the engine and cluster suites need.

The unedited stacks' runs (`mocked_stack`, `stack_run`) are shared by every test that reads
them; a test that needs a changed config runs its own with `run_program(stack, edit)`. The
session checks at its end that no test changed a shared run. Under pytest-xdist (`make unit`)
the first worker to need a stack runs it and leaves the record in the session's base temp
directory; the other workers load that record instead of running the program again.
"""

from __future__ import annotations

import copy
import fcntl
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from azora.toolchain import Toolchain, find_toolchain

# tests.mocked_program (Pulumi's runtime) is imported on first use: the xdist controller and the
# engine and cluster suites never need it.
if TYPE_CHECKING:
    from tests.mocked_program import ProgramRun

STACKS = ("local", "staging", "production")
_RUNS: dict[str, ProgramRun] = {}
_PRISTINE: dict[str, ProgramRun] = {}  # a copy of each shared run, to check that none changed
_WORKERS_DIR: list[Path] = []  # under pytest-xdist: where this session's workers share the runs


def mocked_stack(stack: str) -> ProgramRun:
    """The unedited stack's mocked run, run once per session (each run has its own fresh event
    loop). Shared: read it, never change it."""
    if stack not in _RUNS:
        run = _run_once_per_session(stack)
        assert run.error is None, f"{stack}: {run.error}"
        _RUNS[stack] = run
        _PRISTINE[stack] = copy.deepcopy(run)
    return _RUNS[stack]


def _run_once_per_session(stack: str) -> ProgramRun:
    from tests.mocked_program import run_program

    if not _WORKERS_DIR:
        return run_program(stack)
    shared = _WORKERS_DIR[0]
    record = shared / f"{stack}.pickle"
    with open(shared / f"{stack}.lock", "w") as lock:
        # One worker runs the program; one that needs the stack meanwhile waits for its record.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            return pickle.loads(record.read_bytes())
        run = run_program(stack)
        if run.error is None:
            scratch = record.with_suffix(".partial")
            scratch.write_bytes(pickle.dumps(run))
            scratch.rename(record)
        return run


@pytest.fixture(scope="session", autouse=True)
def _shared_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # A worker's base temp is <the session's base temp>/<worker id>: the parent is shared.
        shared = tmp_path_factory.getbasetemp().parent / "mocked-stack-runs"
        shared.mkdir(exist_ok=True)
        _WORKERS_DIR.append(shared)
    yield
    changed = sorted(stack for stack, run in _RUNS.items() if run != _PRISTINE[stack])
    assert not changed, (
        f"a test changed the shared mocked run of {', '.join(changed)}: later tests would read the "
        "change; copy what you edit, or run the program again with run_program(stack, edit)"
    )


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
