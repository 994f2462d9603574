"""`azora cluster up | down | status | env`: the embedded local cluster (see azora/cluster)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from azora.cluster.layout import NODE_KINDS, Layout
from azora.cluster.lifecycle import down, kubectl_env_line, status, up
from azora.console import err, out
from azora.context import of
from azora.errors import BadInput
from azora.toolchain import CLUSTER_GROUP, ensure_toolchain, format_seconds

app = typer.Typer(
    help="The embedded local cluster: a Kubernetes control plane on 127.0.0.1 and a node that runs "
    "the pods (containerd, no Docker), or a simulated node."
)

DIR_HELP = "Cluster directory (default: .azora/cluster in the project, or AZORA_CLUSTER_DIR)."


def _layout(ctx: typer.Context, directory: str | None) -> Layout:
    """`--dir`, else `AZORA_CLUSTER_DIR`, else the project's `.azora/cluster` (only this last
    one needs a project)."""
    if directory is not None:
        return Layout(Path(directory).resolve())
    configured = os.environ.get("AZORA_CLUSTER_DIR")
    return Layout(Path(configured).resolve() if configured else of(ctx).project.cluster_dir)


@app.command("up")
def up_command(
    ctx: typer.Context,
    directory: str = typer.Option(None, "--dir", help=DIR_HELP),
    timeout: float = typer.Option(120, "--timeout", help="Seconds to wait for every component and the node."),
    lifetime: float = typer.Option(None, "--lifetime", help="Stop the cluster by itself after this many seconds."),
    node: str = typer.Option(
        None,
        "--node",
        help="real (default: containerd, kubelet, kube-proxy and CoreDNS run the pods) or simulated "
        "(kwok: pods run nothing; for scale tests). Fixed when the cluster is made.",
    ),
) -> None:
    """Start whatever is not running (idempotent) and wait until the node is Ready."""
    if node is not None and node not in NODE_KINDS:
        raise BadInput(f"--node {node}: expected one of {', '.join(NODE_KINDS)}")
    layout = _layout(ctx, directory)
    started = time.monotonic()
    toolchain = ensure_toolchain(err, (CLUSTER_GROUP,))
    with err.status("starting the cluster", spinner="dots") as spinner:

        def progress(line: str) -> None:
            err.print(f"  {escape(line)}", highlight=False)
            spinner.update(escape(line))

        info = up(layout, toolchain.bin_dir, progress, timeout=timeout, lifetime=lifetime, node=node)
    what = f"started {', '.join(info.started)}" if info.started else "already running"
    err.print(f"[green]✓[/] cluster ready at {info.server} in {format_seconds(time.monotonic() - started)} ({what})")
    err.print(f"  kubeconfig: {info.kubeconfig}")
    if info.ingress_url:
        err.print(f"  ingress: {info.ingress_url} (the stack's web frontend, once `azora up -s local` has run)")
    err.print(f"  use it with: {kubectl_env_line(layout)}")


@app.command("down")
def down_command(
    ctx: typer.Context,
    directory: str = typer.Option(None, "--dir", help=DIR_HELP),
    purge: bool = typer.Option(False, "--purge", help="Also delete the cluster's data, credentials and logs."),
) -> None:
    """Stop every process the cluster started (by pid); --purge deletes its directory too."""
    layout = _layout(ctx, directory)
    stopped = down(layout, purge=purge, progress=lambda line: err.print(f"  {escape(line)}"))
    err.print(f"[green]✓[/] cluster stopped ({len(stopped)} processes)" if stopped else "the cluster was not running")


@app.command("status")
def status_command(ctx: typer.Context, directory: str = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """Each component: running, unhealthy, crashed or stopped. Exit 1 unless all are running."""
    layout = _layout(ctx, directory)
    rows = status(layout)
    table = Table("component", "state", "pid", "detail", title=f"cluster in {layout.root}", title_justify="left")
    colours = {"running": "green", "unhealthy": "yellow", "crashed": "red", "stopped": "dim"}
    for row in rows:
        table.add_row(row.name, f"[{colours[row.state]}]{row.state}[/]", str(row.pid or "-"), escape(row.detail))
    out.print(table)
    if any(row.state != "running" for row in rows):
        raise typer.Exit(1)


@app.command("env")
def env_command(ctx: typer.Context, directory: str = typer.Option(None, "--dir", help=DIR_HELP)) -> None:
    """Print the `export KUBECONFIG=...` line (eval "$(azora cluster env)")."""
    print(kubectl_env_line(_layout(ctx, directory)))
