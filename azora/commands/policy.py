"""`azora policy check PATH...`: the pack's rules over plain manifests (`helm template` too)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from azora.console import err, out
from azora.manifests import ManifestError, read_manifests
from policy.rules.engine import evaluate
from policy.rules.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="Check manifests against the policy pack.", no_args_is_help=True)


@app.command("check")
def check(
    paths: list[Path] = typer.Argument(..., help="Manifest files or directories.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
    config: Path | None = typer.Option(None, "--config", help="Policy config JSON (--policy-pack-config format)."),
) -> None:
    """Exit 1 on any mandatory violation, 0 otherwise, 2 when the input cannot be read."""
    try:
        settings = load_settings(config) if config else Settings()
        resources = read_manifests(paths)
    except (ManifestError, SettingsError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    violations = evaluate(resources, settings)
    mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
    if as_json:
        print(json.dumps({"violations": [v.as_dict() for v in violations], "resources": len(resources)}, indent=2))
    else:
        for v in violations:
            colour = "red" if v.enforcement == "mandatory" else "yellow"
            out.print(f"[{colour}]{v.enforcement:9}[/] {escape(v.policy)}  {escape(v.resource)}: {escape(v.message)}")
        advisory = len(violations) - mandatory
        summary = f"{len(resources)} resources, {mandatory} mandatory and {advisory} advisory violations"
        out.print(f"[{'red' if mandatory else 'green'}]{summary}[/]")
    raise typer.Exit(1 if mandatory else 0)
