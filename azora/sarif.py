"""SARIF 2.1.0 for `azora policy check --format sarif`, the format GitHub code scanning reads.

One run whose driver lists every rule of the catalogue (description, why and fix) and one result
per violation, at the file and line of the object that broke the rule. Mandatory is `error`,
advisory `warning`, a disabled rule's default `none`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from azora.manifests import STDIN_NAME
from policy.rules.model import Rule, Source, Violation
from policy.rules.settings import Settings

VERSION = "2.1.0"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL = "azora policy"
LEVELS = {"mandatory": "error", "advisory": "warning", "disabled": "none"}


def _tool_version() -> str:
    try:
        return metadata.version("azora-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


def artifact_uri(file: str, cwd: Path) -> str:
    """A manifest's path relative to `cwd` (as a URI reference), or an absolute `file:` URI when
    it lies outside; standard input stays `<stdin>`."""
    if file == STDIN_NAME:
        return file
    path = Path(os.path.abspath(file))
    try:
        return quote(path.relative_to(cwd).as_posix())
    except ValueError:
        return path.as_uri()


def _rule(rule: Rule, settings: Settings) -> dict[str, Any]:
    level = settings.level(rule)
    entry: dict[str, Any] = {"id": rule.name, "shortDescription": {"text": rule.description}}
    if rule.why:
        entry["fullDescription"] = {"text": rule.why}
    entry["help"] = {
        "text": f"Why: {rule.why}\nFix: {rule.fix}",
        "markdown": f"**Why:** {rule.why}\n\n**Fix:** {rule.fix}",
    }
    entry["defaultConfiguration"] = {"level": LEVELS[level]}
    entry["properties"] = {"enforcement": level, "scope": "stack" if rule.stack else "resource"}
    return entry


def _location(source: Source, resource: str, cwd: Path) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(source.file, cwd)},
            "region": {"startLine": source.line},
        },
        "logicalLocations": [{"fullyQualifiedName": resource, "kind": "resource"}],
    }


def sarif_report(
    violations: Iterable[Violation],
    rules: list[Rule],
    settings: Settings,
    cwd: Path,
    fallback: Source | None = None,
) -> dict[str, Any]:
    """The SARIF log. A violation with no source of its own (a stack rule that could not name a
    resource) is placed at `fallback`, the first input read: code scanning refuses a result
    without a location."""
    index = {rule.name: position for position, rule in enumerate(rules)}
    results = []
    for violation in violations:
        result: dict[str, Any] = {
            "ruleId": violation.policy,
            "level": LEVELS[violation.enforcement],
            "message": {"text": f"{violation.resource}: {violation.message}"},
        }
        if violation.policy in index:
            result["ruleIndex"] = index[violation.policy]
        source = violation.source or fallback
        if source is not None:
            result["locations"] = [_location(source, violation.resource, cwd)]
        results.append(result)
    driver = {"name": TOOL, "version": _tool_version(), "rules": [_rule(rule, settings) for rule in rules]}
    return {"$schema": SCHEMA, "version": VERSION, "runs": [{"tool": {"driver": driver}, "results": results}]}
