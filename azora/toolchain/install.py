"""Getting a toolchain no matter what: find it, else build it, then register plugins.

``ensure_toolchain`` is what commands call: azora's cache first (instant when
built), then a compatible ``pulumi`` on PATH (Pulumi group only), otherwise build the
missing pieces with the machine's Go under a lock on the cache directory and
register the provider plugins with ``pulumi plugin install --file`` so the engine
never tries to download one. ``describe`` summarises a toolchain for ``azora tools``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from azora.toolchain.build import build_piece
from azora.toolchain.catalog import PULUMI_GROUP, pieces_for
from azora.toolchain.discovery import (
    Toolchain,
    cached_toolchain,
    installed_plugins,
    required_pulumi,
    system_toolchain,
)
from azora.toolchain.errors import ToolchainError
from azora.toolchain.gobuild import check_disk, find_go, format_seconds, go_satisfies, go_version, locked
from azora.toolchain.paths import toolchain_dir
from azora.toolchain.pins import Pins, sdk_mismatches
from azora.toolchain.stamps import is_fresh, read_stamp

PULUMI_INSTALL_HINT = "curl -fsSL https://get.pulumi.com | sh"


def ensure_toolchain(
    console: Console | None = None,
    groups: Sequence[str] = (PULUMI_GROUP,),
    *,
    force: bool = False,
) -> Toolchain:
    """Return a ready toolchain, building whatever is missing.

    Order: azora's cache (instant when built); a compatible ``pulumi`` on PATH with the
    pinned plugins (Pulumi group only); otherwise build the missing pieces with Go,
    showing progress on ``console`` (default: stderr), then install the provider
    plugins from the built files. ``force`` rebuilds every piece. Raises
    ``ToolchainError`` with instructions when nothing can be found or built.
    """
    console = console or Console(stderr=True, highlight=False)
    pins = Pins.load()
    for problem in sdk_mismatches(pins):
        console.print(f"[yellow]warning:[/] {escape(problem)} (pip install -e . to resync)")
    if not force:
        cached = cached_toolchain(pins, groups)
        if cached is not None:
            _ensure_plugins(cached, pins, groups, console)
            return cached
        if set(groups) <= {PULUMI_GROUP}:
            system = system_toolchain(pins)
            if system is not None:
                return system
    return _build(pins, groups, console, force=force)


def missing_everything_message(pins: Pins, go: Path | None, go_ver: str | None) -> str:
    """What to say when there is neither a usable Pulumi nor a Go to build one."""
    if go is None:
        go_part = "Go is not installed (needed to build the toolchain from Go modules)"
    else:
        go_part = f"Go at {go} is {go_ver or 'unusable'}, older than the required go{pins.go_minimum}"
    return (
        "no usable Pulumi toolchain:\n"
        f"  - no compatible `pulumi` on PATH (need v{required_pulumi(pins)} or newer in v3 with the "
        f"kubernetes {pins.kubernetes} and random {pins.random} plugins installed)\n"
        f"  - {go_part}\n"
        f"Either install Go {pins.go_minimum}+ and run `azora tools install` again, or install the "
        f"official Pulumi CLI: {PULUMI_INSTALL_HINT}\n"
        f"  then: pulumi plugin install resource kubernetes {pins.kubernetes} && "
        f"pulumi plugin install resource random {pins.random}"
    )


def _require_go(pins: Pins) -> Path:
    go = find_go()
    version = go_version(go) if go else None
    if go is None or not go_satisfies(version, pins.go_minimum):
        raise ToolchainError(missing_everything_message(pins, go, version))
    return go


def _build(pins: Pins, groups: Sequence[str], console: Console, *, force: bool) -> Toolchain:
    go = _require_go(pins)
    root = toolchain_dir(pins)
    for sub in ("bin", "plugins", "build", "stamps", "logs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    check_disk(root)
    pieces = pieces_for(pins, groups)
    with locked(root / ".lock"):  # one build per cache directory at a time
        todo = [p for p in pieces if force or not is_fresh(root, p)]
        if todo:
            console.print(
                f"building the Pulumi toolchain into {root} with {go_version(go)} "
                f"({len(todo)} of {len(pieces)} pieces; cold, on 2 cores: 12 to 28 minutes for the Pulumi set, "
                "8 to 18 more for the cluster and its node)"
            )
        for piece in todo:
            build_piece(piece, root, go, console)
        toolchain = Toolchain(root / "bin", "cache", pins.pulumi, pins.plugins)
        _ensure_plugins(toolchain, pins, groups, console)
    return toolchain


def _ensure_plugins(toolchain: Toolchain, pins: Pins, groups: Sequence[str], console: Console) -> None:
    """Register the built provider binaries with ``pulumi plugin install --file`` so the
    engine finds them by version and never downloads one."""
    wanted = [p.plugin for p in pieces_for(pins, groups) if p.plugin]
    if not wanted:
        return
    env = toolchain.env()
    have = installed_plugins(toolchain.pulumi, env)
    for kind, name, version, binary in wanted:
        if (kind, name, version) in have:
            continue
        argv = [
            str(toolchain.pulumi),
            "plugin",
            "install",
            kind,
            name,
            version,
            "--file",
            str(toolchain.bin_dir.parent / "plugins" / binary),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise ToolchainError(
                f"`{' '.join(argv)}` failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()}"
            )
        console.print(f"[green]✓[/] installed plugin {kind} {name} {version} from {binary}")


# --------------------------------------------------------------------------- reporting


def describe(toolchain: Toolchain, pins: Pins, groups: Sequence[str] = (PULUMI_GROUP,)) -> list[tuple[str, str, str]]:
    """Rows ``(piece, version, build time)`` for a summary table."""
    if toolchain.source != "cache":
        return [("pulumi (system)", toolchain.pulumi_version, "-")]
    root = toolchain.bin_dir.parent
    rows = []
    for piece in pieces_for(pins, groups):
        stamp = read_stamp(root, piece) or {}
        seconds = stamp.get("seconds")
        built = format_seconds(float(seconds)) if isinstance(seconds, int | float) else "?"
        rows.append((piece.name, piece.version_label, built))
    return rows
