"""`azora preview` and `azora up`, and how every engine command opens its stack.

Each command opens `Pulumi.<stack>.yaml` of the project the CLI found (azora.context) on the
backend in `PULUMI_BACKEND_URL` (the project's `.azora/state` only for the local stack, or when
asked for explicitly), with the policy pack on every preview and update. Failures print the
engine's own diagnostics (azora.engine.failure), exit codes are azora.errors'.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer
from pulumi import automation as auto
from rich.markup import escape

from azora import progress as live
from azora.cluster.layout import ClusterError, Layout
from azora.cluster.lifecycle import check_target, embedded_layout, ingress_url, real_node
from azora.cluster.node import NodePaths
from azora.config.errors import ConfigError
from azora.config.load import load_stack_file, resolve_kubeconfig
from azora.config.model import StackConfig
from azora.console import err, out
from azora.context import Context, of
from azora.engine import EngineError, ProjectStack, backend_for, engine_diagnostics, run_preview, run_update
from azora.errors import AzoraError, BadInput
from azora.recovery import recover
from azora.release import due_scale_downs, scale_down
from azora.toolchain import ensure_toolchain, find_toolchain

STACK = typer.Option(..., "--stack", "-s", help="Stack name: local, staging or production.", show_default=False)
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation; apply in one engine pass.")
JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout (for CI).")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Stream the engine's own output too.")
NOT_CHANGES = {auto.OpType.SAME, auto.OpType.REFRESH, auto.OpType.READ}
TOOLS_HINT = (
    "the Pulumi toolchain is not installed: run `azora tools install` (builds it from Go modules, "
    "12 to 28 minutes cold) or install the pulumi CLI and its plugins (README, Prerequisites)"
)


class Cancelled(AzoraError):
    """The user answered no; nothing was applied."""


def stack_config(ctx: Context, stack: str) -> StackConfig:
    """The validated config of a stack of the current project (bad input names file, key, line)."""
    path = ctx.project.existing_stack_file(stack)
    try:
        return load_stack_file(path)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


def open_stack(
    ctx: Context, stack: str, *, needs_cluster: bool = True, build: bool = True, repair_state: bool = False
) -> ProjectStack:
    """The project's stack, after its file validates and (for commands that reach the cluster)
    its embedded cluster, if it targets one, is running. Read-only commands pass build=False:
    they never start a toolchain build, they say how to get the tools."""
    config = stack_config(ctx, stack)  # validate before touching any state
    kubeconfig = resolve_kubeconfig(config, ctx.project.root)
    if needs_cluster and kubeconfig is not None:
        try:
            check_target(kubeconfig)
        except ClusterError as exc:
            raise EngineError(f"Pulumi.{stack}.yaml: azora:kubeconfig: {exc}") from None
    backend_for(ctx.project, config.environment, stack, os.environ)  # before any build: refuse early
    toolchain = ensure_toolchain(err) if build else find_toolchain()
    if toolchain is None:
        raise EngineError(TOOLS_HINT)
    target = ProjectStack(ctx.project, stack, config.environment, toolchain, repair_state=repair_state)
    layout = real_node(kubeconfig) if needs_cluster and kubeconfig is not None else None
    if layout is not None:
        target.before_update = lambda: import_stack_images(
            target, layout, toolchain.bin_dir / "pause", toolchain.bin_dir / "prometheus"
        )
    return target


def import_stack_images(target: ProjectStack, layout: Layout, pause_binary: Path, prometheus_binary: Path) -> None:
    """Before an update on the embedded real node: containerd holds every image the stack file
    names (the stand-in from Debian packages, the pause and Prometheus images from the
    toolchain's binaries, cached by content; see azora.images).
    An image that cannot be made is refused here, before the engine applies anything."""
    from azora.images import ensure_stack_images

    try:
        config = load_stack_file(target.stack_file)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    ensure_stack_images(
        config,
        str(NodePaths(layout).containerd_socket),
        pause_binary,
        prometheus_binary,
        progress=lambda line: err.print(f"  {escape(line)}", highlight=False),
    )


def on_embedded_cluster(ctx: Context, stack: str) -> bool:
    kubeconfig = resolve_kubeconfig(stack_config(ctx, stack), ctx.project.root)
    return kubeconfig is not None and embedded_layout(kubeconfig) is not None


def embedded_real_node(ctx: Context, stack: str) -> Layout | None:
    """The embedded cluster with a real node that the stack targets, or None."""
    kubeconfig = resolve_kubeconfig(stack_config(ctx, stack), ctx.project.root)
    return real_node(kubeconfig) if kubeconfig is not None else None


def stack_outputs(stack: str, context: Context) -> dict[str, Any]:
    """The live outputs of a stack, for `azora smoke --stack S` without --outputs."""
    target = open_stack(context, stack, needs_cluster=False, build=False)
    return {key: value.value for key, value in target.handle.outputs().items()}


def engine_output(verbose: bool) -> Callable[[str], None] | None:
    return (lambda line: err.print(escape(line), highlight=False)) if verbose else None


def op_counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    """An engine's change summary with plain string keys (the SDK types them as OpType)."""
    return {str(getattr(op, "value", op)): count for op, count in (changes or {}).items()}


def summary(changes: Mapping[Any, int] | None) -> str:
    shown = {op: n for op, n in op_counts(changes).items() if op not in {o.value for o in NOT_CHANGES}}
    return ", ".join(f"{count} {op}" for op, count in sorted(shown.items())) or "no changes"


def print_changes(found: list[live.Change]) -> None:
    for change in found:
        err.print(f"  {escape(change.line())}", highlight=False)


def preview_then_confirm(target: ProjectStack, question: str, yes: bool, quiet: bool = False) -> bool:
    """Preview and show the per-resource diff (as `pulumi up` does); then, with changes, ask
    unless --yes. Returns whether there is anything to apply. `azora up` previews even with
    --yes: applying a no-op would add an empty update to the stack's history. Refuses to ask
    where nobody can answer."""
    result, events = run_preview(target.handle, target.stack)
    found = live.changes(events)
    if not quiet:
        err.print(f"preview of {target.stack}: {summary(result.change_summary)}")
        print_changes(found)
    if not found:
        return False
    if yes:
        return True
    if not sys.stdin.isatty():
        raise BadInput("--yes must be passed to proceed when not running on a terminal (as pulumi says)")
    if not typer.confirm(question, default=False, err=True):
        raise Cancelled("cancelled; nothing was applied")
    return True


def apply_with_progress(
    target: ProjectStack, message: str, as_json: bool, verbose: bool, title: str | None = None
) -> auto.UpResult:
    if target.before_update is not None:
        target.before_update()
    with live.progress_view(err, title or f"applying {target.stack}", enabled=not as_json) as view:
        return run_update(target.handle, target.stack, message, view, engine_output(verbose))


def preview_command(
    ctx: typer.Context,
    stack: str = STACK,
    diff: bool = typer.Option(False, "--diff", help="Print the engine's detailed diff."),
    refresh: bool = typer.Option(False, "--refresh", help="Refresh state from the cluster first."),
    expect_no_changes: bool = typer.Option(False, "--expect-no-changes", help="Fail when anything would change."),
    as_json: bool = JSON,
) -> None:
    """Preview with the policy pack: each resource that would change, and the properties."""
    target = open_stack(of(ctx), stack, build=False)
    on_output = (lambda line: out.print(escape(line), highlight=False)) if diff and not as_json else None
    result, events = run_preview(target.handle, stack, on_output=on_output, diff=diff, refresh=refresh)
    found = live.changes(events)
    if as_json:
        print(
            json.dumps(
                {
                    "stack": stack,
                    "summary": op_counts(result.change_summary),
                    "changes": [change.__dict__ | {"properties": list(change.properties)} for change in found],
                },
                indent=2,
            )
        )
    else:
        out.print(f"preview of {stack}: {summary(result.change_summary)}")
        for change in found:
            out.print(f"  {escape(change.line())}", highlight=False)
    if expect_no_changes and found:
        raise EngineError(f"{stack} has changes and --expect-no-changes was given: {summary(result.change_summary)}")


def up_command(
    ctx: typer.Context,
    stack: str = STACK,
    yes: bool = YES,
    message: str = typer.Option("azora up", "--message", "-m", help="Update message in the stack history."),
    verbose: bool = VERBOSE,
    refresh: bool = typer.Option(
        False,
        "--refresh",
        help="Read every resource from the cluster first; what was deleted outside Pulumi is made again.",
    ),
    as_json: bool = JSON,
) -> None:
    """Preview (the per-resource diff), confirm, apply; first recover from an interrupted update.

    Recovery: cut-short metadata files, a stale lock, pending operations. Old colours whose
    scaleDownDelaySeconds has passed are scaled down."""
    target = open_stack(of(ctx), stack, repair_state=True)
    recovery = recover(target.handle, target.env.get("PULUMI_BACKEND_URL", ""), target.repaired, target.project.name)
    for line in recovery.lines():
        err.print(f"[yellow]recovered:[/] {escape(line)}")
    if refresh:
        try:
            refreshed = target.handle.refresh(color="never", message="azora up --refresh")
        except auto.errors.CommandError as exc:
            raise EngineError(f"the refresh of {stack} failed: {engine_diagnostics(exc)}") from None
        gone = op_counts(refreshed.summary.resource_changes).get("delete", 0)
        err.print(f"refreshed: {gone} resource(s) no longer in the cluster" if gone else "refreshed: no drift")
    scaled: list[str] = []
    due = due_scale_downs(stack_config(of(ctx), stack))
    if due:
        err.print(f"old colours past scaleDownDelaySeconds: {', '.join(due)} (scaling them down)")
        with live.progress_view(err, f"scaling down {', '.join(due)}", enabled=not as_json) as view:
            scaled = scale_down(target, progress=view)
    changes: dict[str, int] = {}
    if preview_then_confirm(target, f"apply these changes to {stack}?", yes, quiet=as_json):
        result = apply_with_progress(target, message, as_json, verbose)
        changes = op_counts(result.summary.resource_changes)
        if not as_json:
            out.print(f"[green]✓[/] {stack}: {summary(changes)}")
    elif not as_json:
        out.print(f"[green]✓[/] {stack}: no changes")
    outputs = {key: "[secret]" if v.secret else v.value for key, v in sorted(target.handle.outputs().items())}
    if as_json:
        print(json.dumps({"stack": stack, "changes": changes, "scaledDown": scaled, "outputs": outputs}, indent=2))
    else:
        out.print("outputs:")
        out.print_json(data=outputs)
        layout = embedded_real_node(of(ctx), stack)
        if layout is not None:
            out.print(f"open the web frontend (the active colour's pods): {ingress_url(layout)}")
