"""Importing the policy code is harmless: no analyzer server, no blocking.

Only `policy/__main__.py` builds the PolicyPack, and constructing a PolicyPack starts the gRPC
analyzer server and blocks (pulumi-policy#365). Everything else - the rules, the SDK glue and
the `azora` CLI - must import in a fresh interpreter, open no listening socket, and exit.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "manifests" / "compliant" / "blue-green"
TIMEOUT = 60  # generous: a hang, not slowness, is what this catches

# Listening TCP sockets owned by this process: socket inodes of our fds, matched against the
# kernel's tables (state 0A is LISTEN). A gRPC server shows up here as soon as it binds.
PROBE = textwrap.dedent(
    """
    import json, os, sys, threading

    def listening():
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
        found = []
        for table in ("tcp", "tcp6"):
            try:
                rows = open(f"/proc/self/net/{table}").read().splitlines()[1:]
            except OSError:
                continue
            found += [cols[1] for cols in map(str.split, rows) if cols[3] == "0A" and cols[9] in inodes]
        return found

    def report(**extra):
        print(json.dumps({
            "listening": listening(),
            "threads": sorted(t.name for t in threading.enumerate()),
            "main_imported": "policy.__main__" in sys.modules,
            **extra,
        }))
    """
)


# Booby-traps PolicyPack construction: exit 3 instead of starting the analyzer server.
TRAP = """
import os, pulumi_policy

def trap(*args, **kwargs):
    print("PolicyPack constructed", flush=True)
    os._exit(3)

pulumi_policy.PolicyPack.__init__ = trap
"""


def run_probe(body: str, setup: str = "") -> dict[str, Any]:
    """Run PROBE, setup and body in a fresh interpreter; it must exit by itself within TIMEOUT."""
    code = PROBE + setup + textwrap.dedent(body)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:  # a blocking server looks exactly like this
        raise AssertionError(f"the interpreter did not exit within {TIMEOUT}s: {exc.stdout!r} {exc.stderr!r}") from None
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_probe_sees_a_listening_socket() -> None:
    # Negative control: without it a broken probe would make the tests below pass vacuously.
    seen = run_probe(
        """
        import socket
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        report()
        """
    )
    assert len(seen["listening"]) == 1


def test_importing_the_policy_code_starts_no_server() -> None:
    seen = run_probe(
        """
        import importlib, pkgutil
        import policy, policy.adapters, policy.rules
        rules = [m.name for m in pkgutil.iter_modules(policy.rules.__path__)]
        for name in rules:
            importlib.import_module(f"policy.rules.{name}")
        policies = policy.adapters.sdk_policies()  # building the SDK policy objects is harmless too
        report(rules=rules, policies=len(policies))
        """
    )
    assert seen["listening"] == []
    assert seen["threads"] == ["MainThread"]
    assert seen["main_imported"] is False
    # the walk really imported the rule modules (and catalog's 33 policies exist)
    assert {"catalog", "engine", "model", "settings", "stack", "workloads"} <= set(seen["rules"])
    assert seen["policies"] > 30


def test_the_cli_never_imports_or_builds_the_pack() -> None:
    # PolicyPack construction is booby-trapped: if anything on the CLI path built the pack,
    # the child would exit 3 instead of hanging on the server.
    seen = run_probe(
        setup=TRAP,
        body=f"""
        import azora.cli
        imported_cli = "policy.__main__" in sys.modules
        from typer.testing import CliRunner
        result = CliRunner().invoke(azora.cli.app, ["policy", "check", "--json", {str(FIXTURE)!r}])
        report(imported_cli=imported_cli, exit_code=result.exit_code)
        """,
    )
    assert seen["imported_cli"] is False  # right after `import azora.cli`
    assert seen["main_imported"] is False  # and after running `azora policy check`
    assert seen["exit_code"] == 0
    assert seen["listening"] == []


def test_the_trap_catches_the_pack() -> None:
    # Negative control for the trap: importing policy.__main__ does build the pack, and the
    # trap turns that into exit 3 before any server could start.
    done = subprocess.run(
        [sys.executable, "-c", TRAP + "import policy.__main__"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (3, "PolicyPack constructed")


def test_no_module_imports_policy_main() -> None:
    # A static backstop for code paths the tests above do not run.
    offenders = []
    for path in sorted(
        [*(ROOT / "azora").rglob("*.py"), *(ROOT / "policy").rglob("*.py"), *(ROOT / "components").rglob("*.py")]
    ):
        if path == ROOT / "policy" / "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]  # importlib.import_module("policy.__main__"), runpy.run_module(...)
            if "policy.__main__" in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
