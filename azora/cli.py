"""The `azora` console command: what Pulumi itself does not offer for this platform."""

from __future__ import annotations

import typer

from azora.commands import cluster, config, e2e, policy, release, render, smoke, tools

app = typer.Typer(
    name="azora",
    help="Azora platform: config check, policy check, render, release workflow, smoke and E2E, toolchain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config.app, name="config")
app.add_typer(policy.app, name="policy")
app.add_typer(tools.app, name="tools")
app.add_typer(cluster.app, name="cluster")
app.command("render")(render.render_command)
app.command("preview")(release.preview_command)
app.command("up")(release.up_command)
app.command("deploy")(release.deploy_command)
app.command("promote")(release.promote_command)
app.command("scale-down")(release.scale_down_command)
app.command("rollback")(release.rollback_command)
app.command("history")(release.history_command)
app.add_typer(smoke.make_app(release.stack_outputs), name="smoke")
app.add_typer(e2e.app, name="e2e")
