"""`azora render --stack S --out DIR`: the stack's manifests through the real engine."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from azora.console import err, out
from azora.context import of
from azora.errors import BadInput
from azora.render import ChartMode, render
from azora.toolchain import ensure_toolchain

app = typer.Typer(help="Render a stack's manifests without a cluster.")


@app.command("render")
def render_command(
    ctx: typer.Context,
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: local, staging or production."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for the manifests."),
    charts: str = typer.Option(
        "auto",
        "--charts",
        help="auto: render the charts whose repositories answer, leave out (and name) the others; "
        "render: all; skip: none.",
    ),
) -> None:
    """Run the real engine in render mode with the policy pack; exit 1 on violations."""
    if charts not in ("auto", "render", "skip"):
        raise BadInput(f"--charts must be auto, render or skip, got {charts!r}")
    mode: ChartMode = charts  # type: ignore[assignment]
    project = of(ctx).project
    project.existing_stack_file(stack)
    toolchain = ensure_toolchain(err)
    with err.status(f"rendering {stack} through the Pulumi engine (policy pack on)"):
        result = render(stack, out_dir, toolchain, mode, project_dir=project.root)
    for skipped in result.skipped_charts:
        err.print(f"[yellow]left out:[/] {escape(skipped.describe())}")
    out.print(f"[green]✓[/] {len(result.files)} manifests in {result.out_dir} ({result.seconds:.1f} s)")
