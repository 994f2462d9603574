"""The `azora` console command: what Pulumi itself does not offer for this platform."""

from __future__ import annotations

import typer

from azora.commands import config, policy, render, tools

app = typer.Typer(
    name="azora",
    help="Azora platform: config check, policy check, render, release workflow, local cluster, toolchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config.app, name="config")
app.add_typer(policy.app, name="policy")
app.add_typer(tools.app, name="tools")
app.command("render")(render.render_command)
