"""`azora config check [FILE...]`: validate stack files offline, without Pulumi or a cluster.

With no file it checks the project's stacks (found from the current directory, as pulumi finds
them): the one `-s/--stack` names, or every `Pulumi.<stack>.yaml`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from azora.config.errors import ConfigError, format_key_path
from azora.config.load import legacy_layout, load_stack_file, placeholder_secrets, read_stack_file
from azora.console import out
from azora.context import of
from azora.errors import BadInput

app = typer.Typer(help="Validate stack configuration.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    files: list[Path] | None = typer.Argument(
        None, help="Stack files; default: the project's (all, or the one --stack names).", show_default=False
    ),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Check only this stack of the project."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Validate stack files; exit 0 when all are valid, 1 with every problem listed."""
    if files and stack:
        raise BadInput("give stack files or --stack, not both")
    if not files:
        project = of(ctx).project
        files = [project.existing_stack_file(stack)] if stack else [project.stack_file(s) for s in project.stacks()]
        if not files:
            raise BadInput(f"no Pulumi.<stack>.yaml in {project.root}: nothing to check")
    report = []
    failed = False
    for path in files:
        try:
            config = load_stack_file(path)
        except ConfigError as exc:
            failed = True
            report.append(
                {
                    "file": str(path),
                    "valid": False,
                    "problems": [
                        {"key": format_key_path(p.path) if p.path else None, "line": p.line, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
            if not as_json:
                for line in str(exc).splitlines():
                    out.print(f"[red]✗[/] {escape(line)}")
            continue
        if not as_json:
            out.print(
                f"[green]✓[/] {path}: {config.environment}, namespace {config.namespace}, "
                f"{len(config.services)} services"
            )
        raw, _ = read_stack_file(path)
        placeholders = [f"azora:{key}" for key in placeholder_secrets(raw)]
        legacy = legacy_layout(raw)
        report.append(
            {
                "file": str(path),
                "valid": True,
                "problems": [],
                "placeholderSecrets": placeholders,
                "legacyStatus": legacy,
            }
        )
        if legacy and not as_json:
            out.print(
                f"[yellow]![/] {path}: release state (activeColor, idleScaledUp, promotedAt) of {', '.join(legacy)} "
                "is under azora:services, the layout before azora:status; it still works, and the next "
                "azora deploy/promote/scale-down moves it to azora:status"
            )
        if placeholders and not as_json:
            out.print(
                f"[yellow]![/] {path}: {', '.join(placeholders)} still hold the repository placeholder; "
                "set real values with `pulumi config set --secret` before deploying"
            )
    if as_json:
        print(json.dumps({"files": report}, indent=2))
    raise typer.Exit(1 if failed else 0)
