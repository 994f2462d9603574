"""`azora tools install | path`: the Pulumi toolchain (see the azora/toolchain package)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from azora.console import err, out
from azora.toolchain import (
    PULUMI_GROUP,
    Pins,
    Toolchain,
    ToolchainError,
    describe,
    ensure_toolchain,
    find_toolchain,
    format_seconds,
)

app = typer.Typer(help="The Pulumi CLI and plugins azora runs: build, find, put on PATH.")

GROUP_HELP = "Extra toolchain group to install as well (repeatable); the Pulumi set is always installed."


def _groups(extra: list[str] | None) -> tuple[str, ...]:
    groups = [PULUMI_GROUP]
    for group in extra or []:
        if group not in groups:
            groups.append(group)
    return tuple(groups)


@app.command("install")
def install_command(
    with_groups: list[str] = typer.Option(None, "--with", help=GROUP_HELP),
    force: bool = typer.Option(False, "--force", help="Rebuild every piece even if the cache is current."),
) -> None:
    """Make the pinned Pulumi CLI and provider plugins available.

    Uses a compatible `pulumi` already on PATH when it has the pinned plugins;
    otherwise builds everything from Go modules into the cache (idempotent: a
    finished build returns at once).
    """
    groups = _groups(with_groups)
    started = time.monotonic()
    toolchain = ensure_toolchain(err, groups, force=force)
    pins = Pins.load()
    _report(toolchain, pins, groups, time.monotonic() - started)


def _report(toolchain: Toolchain, pins: Pins, groups: tuple[str, ...], seconds: float) -> None:
    if toolchain.source == "system":
        err.print(
            f"using the Pulumi CLI v{toolchain.pulumi_version} already on PATH ({toolchain.bin_dir}); "
            f"plugins kubernetes {pins.kubernetes} and random {pins.random} are installed"
        )
    else:
        table = Table(title=f"Pulumi toolchain in {toolchain.bin_dir}", title_justify="left")
        table.add_column("piece")
        table.add_column("version")
        table.add_column("last build took", justify="right")
        for row in describe(toolchain, pins, groups):
            table.add_row(*row)
        err.print(table)
    err.print(f'ready in {format_seconds(seconds)}; put it on PATH with: export PATH="$(azora tools path):$PATH"')


@app.command("path")
def path_command() -> None:
    """Print the directory to prepend to PATH (nothing else on stdout)."""
    toolchain = find_toolchain()
    if toolchain is None:
        raise ToolchainError("the Pulumi toolchain is not installed; run `azora tools install`")
    out.print(str(toolchain.bin_dir), soft_wrap=True, markup=False, highlight=False)
