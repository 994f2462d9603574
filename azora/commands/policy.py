"""`azora policy check PATH...`: the pack's rules over plain manifests (`helm template` output,
`-` for standard input), reported as text, JSON or SARIF."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from azora.console import out
from azora.errors import BadInput
from azora.manifests import ManifestError, read_manifests
from azora.sarif import sarif_report
from policy.rules.catalog import BY_NAME, RULES
from policy.rules.engine import evaluate
from policy.rules.kinds import Verdict, custom_resources, group_of
from policy.rules.model import Resource, Violation
from policy.rules.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="Check manifests against the policy pack.", no_args_is_help=True)

FORMATS = ("text", "json", "sarif")


def _format(chosen: str, as_json: bool) -> str:
    if chosen not in FORMATS:
        raise BadInput(f"--format must be text, json or sarif, got {chosen!r}")
    if as_json and chosen == "sarif":
        raise BadInput("--json is short for --format json; give one of them")
    return "json" if as_json else chosen


def unchecked_groups(custom: Iterable[tuple[Resource, Verdict]]) -> list[dict[str, Any]]:
    """Custom resources by kind and apiVersion: what no rule here knows in full, and the rules
    that read part of it (`readBy`; a ServiceMonitor's selectors, say)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for resource, verdict in custom:
        groups.setdefault((verdict.kind, verdict.api_version), []).append(resource.display)
    return [
        {
            "kind": kind,
            "apiVersion": api_version,
            "count": len(names),
            "resources": names,
            "readBy": [rule.name for rule in RULES if (group_of(api_version), kind) in rule.reads],
        }
        for (kind, api_version), names in sorted(groups.items())
    ]


def summary_line(resources: int, unchecked: list[dict[str, Any]], violations: list[Violation]) -> str:
    mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
    text = f"{resources} resources"
    count = sum(group["count"] for group in unchecked)
    if count:
        kinds = ", ".join(
            f"{g['kind']} {g['apiVersion']} x{g['count']}"
            + (f" [read in part by {', '.join(g['readBy'])}]" if g["readBy"] else "")
            for g in unchecked
        )
        text += f" ({count} custom resource{'' if count == 1 else 's'} unchecked: {kinds})"
    return f"{text}, {mandatory} mandatory and {len(violations) - mandatory} advisory violations"


@app.command("check")
def check(
    paths: list[Path] = typer.Argument(
        ..., help="Manifest files or directories; - reads standard input.", show_default=False
    ),
    output_format: str = typer.Option(
        "text", "--format", help="text, json, or sarif (SARIF 2.1.0, for code scanning)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report (the same as --format json)."),
    config: Path | None = typer.Option(None, "--config", help="Policy config JSON (--policy-pack-config format)."),
) -> None:
    """Exit 1 on any mandatory violation, 0 otherwise, 2 when the input cannot be read."""
    chosen = _format(output_format, as_json)
    try:
        settings = load_settings(config) if config else Settings()
        resources = read_manifests(paths)
    except (ManifestError, SettingsError) as exc:
        raise BadInput(str(exc)) from None
    violations = evaluate(resources, settings)
    unchecked = unchecked_groups(custom_resources(resources, settings.options_for(BY_NAME["unknown-kind"])))
    mandatory = any(v.enforcement == "mandatory" for v in violations)
    if chosen == "json":
        document = {
            "violations": [v.as_dict() for v in violations],
            "resources": len(resources),
            "unchecked": unchecked,
        }
        print(json.dumps(document, indent=2))
    elif chosen == "sarif":
        first = next((r.source for r in resources if r.source is not None), None)
        print(json.dumps(sarif_report(violations, RULES, settings, Path.cwd(), first), indent=2))
    else:
        for v in violations:
            colour = "red" if v.enforcement == "mandatory" else "yellow"
            out.print(f"[{colour}]{v.enforcement:9}[/] {escape(v.policy)}  {escape(v.resource)}: {escape(v.message)}")
        summary = escape(summary_line(len(resources), unchecked, violations))
        out.print(f"[{'red' if mandatory else 'green'}]{summary}[/]")
    raise typer.Exit(1 if mandatory else 0)
