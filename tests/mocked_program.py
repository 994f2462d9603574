"""Run the real `__main__.py` under Pulumi mocks and record everything it registers.

Used by the unit suite only: a fresh event loop per run, the stack's config loaded from its
stack file (optionally edited) before the program runs, and the program run with `runpy`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS, get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from azora.config.load import read_stack_file

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
SECRET_SIG = rpc._special_sig_key
SECRET_VALUE = rpc._special_secret_sig


def secret_for(key: str) -> str:
    """The plaintext a mocked run uses for a secret config key."""
    return f"test-secret-{key}"


@dataclass
class Registration:
    """One resource the program registered: what a real engine would receive."""

    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    dependencies: list[str]
    additional_secret_outputs: list[str]

    @property
    def urn_suffix(self) -> str:
        return f"{self.type}::{self.name}"


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    error: BaseException | None = None

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(matches) == 1, f"expected one {type_} named {name}, found {len(matches)}"
        return matches[0]

    def by_key(self) -> dict[tuple[str, str], Registration]:
        return {(r.type, r.name): r for r in self.resources}


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"mock-password-{args.name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, run: ProgramRun):
        super().__init__(mocks)
        self._run = run

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type != "pulumi:pulumi:Stack":
            self._run.resources.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                    dependencies=list(request.dependencies),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                )
            )
        return super().RegisterResource(request)


MOCK_KUBECONFIG = Path(__file__).parent / "fixtures" / "kubeconfig-unreachable.yaml"


_STACK_FILES: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def _stack_file(path: Path) -> dict[str, Any]:
    """`read_stack_file(path)`'s keys, parsed once per version of the file: parsing with line
    numbers costs about 20 ms, and the unit suite builds a stack's config some 20 times.
    Callers get the cached dict: copy it before changing it."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _STACK_FILES.get(path)
    if cached is None or cached[0] != version:
        raw, _ = read_stack_file(path)
        cached = _STACK_FILES[path] = (version, raw)
    return cached[1]


def stack_config(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, str], list[str]]:
    """The Pulumi config a real engine would pass for `Pulumi.<stack>.yaml`, with test secrets."""
    raw = copy.deepcopy(_stack_file(ROOT / f"Pulumi.{stack}.yaml"))
    if "kubeconfig" in raw:
        # The mocks need no cluster; the program only checks that the file exists.
        raw["kubeconfig"] = str(MOCK_KUBECONFIG)
    if edit is not None:
        edit(raw)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full = f"azora:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = secret_for(key)
            secret_keys.append(full)
        elif isinstance(value, dict | list):
            config[full] = json.dumps(value)
        else:
            config[full] = str(value)
    return config, secret_keys


def run_program(stack: str, edit: Callable[[dict[str, Any]], None] | None = None) -> ProgramRun:
    """Run `__main__.py` for `stack` under mocks; return what it registered and exported."""
    run = ProgramRun(stack=stack)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        # A previous run's root stack and pending work must not leak into this one.
        set_root_resource(None)  # type: ignore[arg-type]
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        mocks = _Mocks()
        pulumi.runtime.set_mocks(
            mocks,
            project="azora-platform",
            stack=stack,
            preview=False,
            monitor=_RecordingMonitor(mocks, run),
        )
        config, secret_keys = stack_config(stack, edit)
        pulumi.runtime.set_all_config(config, secret_keys)

        def program() -> None:
            runpy.run_path(str(PROGRAM), run_name="__main__")

        try:
            _sync_await(run_pulumi_func(program))
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            run.error = exc
            return run
        root = get_root_resource()
        assert root is not None
        for name, value in root.outputs.items():  # type: ignore[attr-defined]
            output = pulumi.Output.from_input(value)
            run.outputs[name] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                run.secret_outputs.add(name)
        return run
    finally:
        pulumi.runtime.set_all_config({}, [])
        loop.close()
        asyncio.set_event_loop(None)
