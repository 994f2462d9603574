"""What the `azora policy check` input tests share (tests/unit/test_policy_input.py,
test_policy_kinds.py, test_policy_sarif.py): the command run in-process (never a traceback),
its JSON report, and manifests written as YAML text."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

from azora.cli import app

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "tests" / "fixtures" / "manifests"
BAD = MANIFESTS / "bad"
BLUE_GREEN = MANIFESTS / "compliant" / "blue-green"
AZORA = Path(sys.executable).parent / "azora"
KIND_RULES = ("unknown-kind", "removed-api")


def invoke(*args: str | Path, stdin: str | None = None) -> Result:
    """Run `azora policy check ARGS` in-process; whatever happens, no exception, no traceback."""
    result = CliRunner().invoke(app, ["policy", "check", *map(str, args)], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def report(*args: str | Path, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    result = invoke("--json", *args, stdin=stdin)
    return result.exit_code, json.loads(result.stdout)


def manifest(api_version: str, kind: str, name: str = "x", namespace: str | None = "shop", **extra: Any) -> str:
    """One object as YAML; `extra` adds top-level fields (`spec`, `items`, `data`)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    document = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **extra}
    return yaml.safe_dump(document, sort_keys=False)


def stream(*documents: str) -> str:
    return "".join(f"---\n{document}" for document in documents)


def kind_violations(text: str) -> list[tuple[str, str, str]]:
    """(rule, resource, message) of the kind rules, for manifests given as text on stdin."""
    code, document = report("-", stdin=text)
    assert code in (0, 1)
    return [(v["policy"], v["resource"], v["message"]) for v in document["violations"] if v["policy"] in KIND_RULES]
