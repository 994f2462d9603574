"""`azora preview | up | deploy | promote | scale-down | rollback | history` on a project stack.

Each command opens `Pulumi.<stack>.yaml` of the project (this repository, or
`AZORA_PROJECT_DIR`) on the configured backend (`PULUMI_BACKEND_URL`, default the gitignored
`.azora/state`), with the policy pack on every preview and update.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from pulumi import automation as auto
from rich.markup import escape
from rich.table import Table

from azora import release
from azora.cluster.layout import ClusterError
from azora.cluster.lifecycle import check_target, embedded_layout
from azora.commands.errors import user_errors
from azora.config.load import load_stack_file, resolve_kubeconfig
from azora.console import err, out
from azora.engine import ROOT, EngineError, ProjectStack, engine_diagnostics, policy_args, policy_findings
from azora.recovery import recover
from azora.smoke import OutputsUnavailable, RetryPolicy, SmokeInputError, run_checks, summary_line, targets_from_outputs
from azora.toolchain import ensure_toolchain, find_toolchain

STACK = typer.Option(..., "--stack", "-s", help="Stack name: local, staging or production.", show_default=False)
# Steps a preview reports that change nothing (a --refresh preview reads every resource).
NOT_CHANGES = {auto.OpType.SAME, auto.OpType.REFRESH, auto.OpType.READ}
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def open_stack(stack: str, needs_cluster: bool = True, build: bool = True, repair_state: bool = False) -> ProjectStack:
    """The project's stack, after its file validates and (for commands that reach the
    cluster) its embedded cluster, if it targets one, is running. Without `build`, a missing
    toolchain is an error instead of a build. `repair_state`: see ProjectStack."""
    project = Path(os.environ.get("AZORA_PROJECT_DIR", ROOT))
    config = load_stack_file(project / f"Pulumi.{stack}.yaml")  # validate before touching any state
    kubeconfig = resolve_kubeconfig(config, project)
    if needs_cluster and kubeconfig is not None:
        try:
            check_target(kubeconfig)
        except ClusterError as exc:
            raise EngineError(f"Pulumi.{stack}.yaml: azora:kubeconfig: {exc}") from None
    toolchain = ensure_toolchain(err) if build else find_toolchain()
    if toolchain is None:
        raise OutputsUnavailable("the Pulumi toolchain is not installed (azora tools install)")
    return ProjectStack(stack, toolchain, project, repair_state=repair_state)


def stack_outputs(stack: str) -> dict[str, Any]:
    """The live outputs of a stack, for `azora smoke --stack S` without --outputs."""
    target = open_stack(stack, needs_cluster=False, build=False)
    return {key: value.value for key, value in target.handle.outputs().items()}


def _progress(verbose: bool) -> Callable[[str], None] | None:
    return (lambda line: err.print(escape(line), highlight=False)) if verbose else None


def _on_embedded_cluster(stack: str) -> bool:
    project = Path(os.environ.get("AZORA_PROJECT_DIR", ROOT))
    kubeconfig = resolve_kubeconfig(load_stack_file(project / f"Pulumi.{stack}.yaml"), project)
    return kubeconfig is not None and embedded_layout(kubeconfig) is not None


def _smoke(target: ProjectStack, base_url: str | None, skip: bool) -> release.SmokeCheck | None:
    """A smoke check of one service against the stack's outputs (or `base_url`). Refused up
    front, before anything is applied, where it could only fail: the outputs' in-cluster URLs
    on the embedded cluster, whose simulated pods serve nothing."""
    if skip:
        return None
    if base_url is None and _on_embedded_cluster(target.stack):
        raise EngineError(
            f"stack {target.stack} runs on the embedded cluster, whose pods run no containers, so its "
            "services' in-cluster URLs cannot answer a smoke check: pass --base-url URL where the apps "
            "run (for example the stand-in, `python -m tests.standin`), or --no-smoke"
        )

    def check(service: str, preview: bool) -> list[str]:
        outputs = {key: value.value for key, value in target.handle.outputs().items()}
        try:
            targets = [t for t in targets_from_outputs(outputs, base_url, preview) if t.service == service]
        except SmokeInputError as exc:
            return [str(exc)]
        results = run_checks(targets, RetryPolicy())
        for result in results:
            err.print(summary_line(result))
        return [f"{r.target.service}: {r.error}" for r in results if not r.ok]

    return check


def _confirm(question: str, yes: bool) -> None:
    if not yes and not typer.confirm(question, default=False, err=True):
        err.print("cancelled")
        raise typer.Exit(1)


def _summary(changes: dict[str, int] | None) -> str:
    changes = changes or {}
    shown = {op: n for op, n in changes.items() if op not in {o.value for o in NOT_CHANGES}}
    return ", ".join(f"{count} {op}" for op, count in sorted(shown.items())) or "no changes"


def preview_command(
    stack: str = STACK,
    diff: bool = typer.Option(False, "--diff", help="Print the detailed diff."),
    refresh: bool = typer.Option(False, "--refresh", help="Refresh state from the cluster first."),
    expect_no_changes: bool = typer.Option(False, "--expect-no-changes", help="Fail when anything would change."),
    as_json: bool = typer.Option(False, "--json", help="Print the change summary as JSON."),
) -> None:
    """Preview with the policy pack; a change summary per resource type."""
    with user_errors():
        target = open_stack(stack)
        events: list[auto.events.EngineEvent] = []
        try:
            result = target.handle.preview(
                diff=diff,
                refresh=refresh,
                expect_no_changes=expect_no_changes,
                on_event=events.append,
                on_output=(lambda line: out.print(escape(line), highlight=False)) if diff and not as_json else None,
                color="never",
                **policy_args(stack),
            )
        except auto.errors.CommandError as exc:
            findings = [f for f in policy_findings(events) if f.enforcement == "mandatory"]
            raise release.ReleaseError(
                "preview failed" if not findings else "the policy pack refused the preview", findings
            ) from exc
        by_type: dict[str, dict[str, int]] = {}
        for event in events:
            pre = event.resource_pre_event
            if pre is not None and pre.metadata.op not in NOT_CHANGES:
                counts = by_type.setdefault(pre.metadata.type, {})
                counts[pre.metadata.op.value] = counts.get(pre.metadata.op.value, 0) + 1
        if as_json:
            print(json.dumps({"changes": by_type, "summary": result.change_summary}, indent=2, default=str))
            return
        table = Table("resource type", "changes")
        for kind, counts in sorted(by_type.items()):
            table.add_row(kind, ", ".join(f"{n} {op}" for op, n in sorted(counts.items())))
        out.print(table if by_type else "no changes")


def up_command(
    stack: str = STACK,
    yes: bool = YES,
    message: str = typer.Option("azora up", "--message", "-m", help="Update message in the stack history."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream the engine's output."),
    refresh: bool = typer.Option(
        False,
        "--refresh",
        help="Read every resource from the cluster first; what was deleted outside Pulumi is made again.",
    ),
) -> None:
    """Preview, show the summary, confirm, apply. Scales down old colours whose delay passed.
    First recovers from an interrupted update (cut-short metadata files, stale lock, pending
    operations)."""
    with user_errors():
        target = open_stack(stack, repair_state=True)
        recovery = recover(target.handle, target.env.get("PULUMI_BACKEND_URL", ""), target.repaired)
        for line in recovery.lines():
            err.print(f"[yellow]recovered:[/] {escape(line)}")
        if refresh:
            try:
                refreshed = target.handle.refresh(color="never", message="azora up --refresh")
            except auto.errors.CommandError as exc:
                raise EngineError(f"the refresh of {stack} failed: {engine_diagnostics(exc)}") from None
            gone = (refreshed.summary.resource_changes or {}).get("delete", 0)
            err.print(f"refreshed: {gone} resource(s) no longer in the cluster" if gone else "refreshed: no drift")
        due = release.due_scale_downs(target.azora_config().get("services") or {})
        if due:
            err.print(f"old colours past scaleDownDelaySeconds: {', '.join(due)} (scaling them down)")
            release.scale_down(target, progress=_progress(verbose))
        events: list[auto.events.EngineEvent] = []
        preview = target.handle.preview(on_event=events.append, color="never", **policy_args(stack))
        out.print(f"preview: {_summary(preview.change_summary)}")
        if [op for op in preview.change_summary if op not in NOT_CHANGES]:
            _confirm(f"apply these changes to {stack}?", yes)
            result = release.apply(target, message, _progress(verbose))
            out.print(f"[green]✓[/] {stack}: {_summary(result.summary.resource_changes)}")
        _print_outputs(target)


def _print_outputs(target: ProjectStack) -> None:
    """The stack outputs, as `pulumi stack output --json` would show them (secrets masked)."""
    outputs = {
        key: "[secret]" if value.secret else value.value for key, value in sorted(target.handle.outputs().items())
    }
    out.print("outputs:")
    out.print_json(data=outputs)


def deploy_command(
    stack: str = STACK,
    service: str = typer.Option(..., "--service", help="The service to ship.", show_default=False),
    version: str = typer.Option(..., "--version", help="The image tag for the idle colour.", show_default=False),
    auto_promote: bool = typer.Option(False, "--auto-promote", help="Promote when the preview smoke passes."),
    base_url: str | None = typer.Option(None, "--base-url", help="Smoke through <URL>/<Service><healthPath>."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Skip the smoke checks."),
    yes: bool = YES,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream the engine's output."),
) -> None:
    """Put VERSION on the idle colour at full size, apply, smoke the preview Service."""
    with user_errors():
        target = open_stack(stack)
        _confirm(f"deploy {service} {version} to the idle colour of {stack}?", yes)
        result = release.deploy(
            target, service, version, _smoke(target, base_url, no_smoke), auto_promote, _progress(verbose)
        )
        if result.smoke_failures:
            err.print(f"[red]✗[/] preview smoke failed: {escape('; '.join(result.smoke_failures))}")
            raise typer.Exit(1)
        out.print(f"[green]✓[/] {service} {version} runs on {result.color} (preview Service {service}-preview)")
        if result.promoted is not None:
            _report_promotion(result.promoted)
        else:
            out.print(f"promote with: azora promote --stack {stack} --service {service}")


def _report_promotion(result: release.PromoteResult) -> None:
    if result.rolled_back:
        err.print(
            f"[red]✗[/] {result.service}: post-promotion smoke failed; switched back to {result.from_color}: "
            f"{escape('; '.join(result.smoke_failures))}"
        )
        raise typer.Exit(1)
    out.print(f"[green]✓[/] {result.service} is live on {result.to_color}")


def promote_command(
    stack: str = STACK,
    service: str = typer.Option(..., "--service", help="The service to switch.", show_default=False),
    base_url: str | None = typer.Option(None, "--base-url", help="Smoke through <URL>/<Service><healthPath>."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Skip the post-promotion smoke checks."),
    yes: bool = YES,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream the engine's output."),
) -> None:
    """Switch the active colour; if the post-promotion smoke fails, switch back at once."""
    with user_errors():
        target = open_stack(stack)
        _confirm(f"switch {service} of {stack} to its idle colour?", yes)
        _report_promotion(release.promote(target, service, _smoke(target, base_url, no_smoke), _progress(verbose)))


def scale_down_command(
    stack: str = STACK,
    service: str | None = typer.Option(None, "--service", help="Only this service."),
    now: bool = typer.Option(False, "--now", help="Do not wait for scaleDownDelaySeconds."),
    yes: bool = YES,
) -> None:
    """Drop old colours to their preview replicas once scaleDownDelaySeconds has passed."""
    with user_errors():
        target = open_stack(stack)
        _confirm(f"scale down old colours of {stack}?", yes)
        done = release.scale_down(target, service, force=now)
        out.print(f"scaled down: {', '.join(done)}" if done else "nothing to scale down yet")


def rollback_command(
    stack: str = STACK,
    to_version: int | None = typer.Option(None, "--to-version", help="Update number from `azora history`."),
    yes: bool = YES,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream the engine's output."),
) -> None:
    """Restore the config of an earlier successful update and apply it."""
    with user_errors():
        target = open_stack(stack)
        plan = release.plan_rollback(target, to_version)
        out.print(f"rollback {stack} to update {plan.version} ({escape(plan.message)}); config keys that change:")
        for key, _before, _after in plan.changes:
            out.print(f"  {escape(key)}")
        _confirm("apply?", yes)
        result = release.rollback(target, plan, _progress(verbose))
        out.print(f"[green]✓[/] rolled back: {_summary(result.summary.resource_changes)}")


def history_command(
    stack: str = STACK,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One row per update: version, time, kind, result, message, colours and versions."""
    with user_errors():
        rows = release.history(open_stack(stack, needs_cluster=False))
        if as_json:
            print(json.dumps([asdict(row) for row in rows], indent=2))
            return
        table = Table("version", "time", "kind", "result", "message", "services (active: blue / green)")
        for row in rows:
            services = "\n".join(
                f"{name}: {svc['activeColor']} {svc['versions'].get('blue', '-')} / {svc['versions'].get('green', '-')}"
                for name, svc in sorted(row.services.items())
            )
            table.add_row(str(row.version), row.time[:19], row.kind, row.result, escape(row.message), services)
        out.print(table)
