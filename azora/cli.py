"""The `azora` console command: what Pulumi itself does not offer for this platform.

The entry resolves the project context once (`-C/--cwd`, as pulumi does) and hands it to the
commands through click's context object, and it is the one place that turns an AzoraError
into a message and its exit code (azora.errors).
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from azora.commands import cluster, config, e2e, policy, release, render, smoke, stack, tools
from azora.console import err
from azora.context import Context
from azora.errors import AzoraError


class AzoraGroup(TyperGroup):
    """Prints any AzoraError as `error: ...` with its detail lines and exits with its code."""

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer vendors click)
        threading.excepthook = _quiet_stream_readers
        try:
            return super().invoke(ctx)
        except AzoraError as exc:
            report(exc)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            err.print(
                "[red]interrupted:[/] the engine was told to stop; the next `azora up` recovers "
                "an update it left unfinished"
            )
            raise typer.Exit(130) from None


def _quiet_stream_readers(args: threading.ExceptHookArgs) -> None:
    """Pulumi's Automation API reads the engine's output in threads; on Ctrl-C the engine's
    pipes close under them and each would print a traceback ("I/O operation on closed file").
    Those say nothing the interrupt message does not; any other thread error is printed."""
    if args.exc_type is ValueError and "closed file" in str(args.exc_value):
        return
    threading.__excepthook__(args)


def report(exc: AzoraError) -> None:
    lines = str(exc).splitlines() or [type(exc).__name__]
    err.print(f"[red]error:[/] {escape(lines[0])}")
    for line in lines[1:]:
        err.print(f"  {escape(line)}", highlight=False)
    for line in getattr(exc, "details", []):
        err.print(f"  {escape(line)}", highlight=False)


def version() -> str:
    try:
        return metadata.version("azora-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


app = typer.Typer(
    name="azora",
    cls=AzoraGroup,
    help="Azora platform: config check, policy check, render, release workflow, smoke and E2E, toolchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"azora {version()}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    cwd: Path | None = typer.Option(
        None,
        "--cwd",
        "-C",
        envvar="AZORA_PROJECT_DIR",
        help="Run as if started in this directory (the project is it or its nearest parent with Pulumi.yaml).",
        show_default=False,
    ),
    _version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print azora's version and exit."
    ),
) -> None:
    """Azora platform: config check, policy check, render, release workflow, smoke and E2E, toolchain."""
    ctx.obj = Context(cwd)


app.add_typer(config.app, name="config")
app.add_typer(policy.app, name="policy")
app.add_typer(tools.app, name="tools")
app.add_typer(cluster.app, name="cluster")
app.command("render")(render.render_command)
app.command("preview")(stack.preview_command)
app.command("up")(stack.up_command)
app.command("deploy")(release.deploy_command)
app.command("promote")(release.promote_command)
app.command("scale-down")(release.scale_down_command)
app.command("rollback")(release.rollback_command)
app.command("history")(release.history_command)
app.add_typer(smoke.make_app(stack.stack_outputs), name="smoke")
app.add_typer(e2e.app, name="e2e")
