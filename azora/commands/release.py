"""`azora deploy | promote | scale-down | rollback | history`: the release workflow on a stack.

Names and behaviour follow kubectl-argo-rollouts and helm: `promote` switches the active
colour and, if its post-check fails, switches back at once and exits 3 (azora.errors); a
`rollback --dry-run` prints the plan; `history --max N`. Without `--yes` each step previews its
change (the stack file's diff, then each resource and property, as `pulumi up` shows it) and
asks; with `--yes` it applies in one engine pass. `--json` prints one JSON object for CI.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import asdict
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from azora import release
from azora import rollback as rollbacks
from azora.cluster.layout import ClusterError
from azora.cluster.lifecycle import api_for
from azora.cluster.services import host_targets, host_url
from azora.commands.stack import (
    JSON,
    STACK,
    VERBOSE,
    YES,
    Cancelled,
    embedded_real_node,
    engine_output,
    on_embedded_cluster,
    op_counts,
    open_stack,
    print_changes,
    summary,
)
from azora.console import err, out
from azora.context import Context, of
from azora.engine import EngineError, ProjectStack, run_preview
from azora.errors import BadInput, ExitCode
from azora.gates import Measurement, PrometheusUnavailable
from azora.gates.result import measurement_line
from azora.gates.runner import PrometheusGates, gate_address
from azora.progress import changes as resource_changes
from azora.progress import progress_view
from azora.smoke import (
    SAMPLE_REQUESTS,
    RetryPolicy,
    SmokeInputError,
    run_checks,
    sample_application,
    summary_line,
    targets_from_outputs,
)

SERVICE = typer.Option(..., "--service", help="The service.", show_default=False)
PROMETHEUS_URL = typer.Option(
    None, "--prometheus-url", help="Prometheus the gates query (default azora:analysis.address, else the stack's own)."
)
SKIP_ANALYSIS = typer.Option(False, "--skip-analysis", help="Do not run the metric gates (azora:analysis).")
BASE_URL = typer.Option(None, "--base-url", help="Smoke through <URL>/<Service><healthPath>.")
NO_SMOKE = typer.Option(False, "--no-smoke", help="Skip the smoke checks.")


def _smoke(
    context: Context, target: ProjectStack, base_url: str | None, skip: bool, quiet: bool, sample: bool = True
) -> release.SmokeCheck | None:
    """A smoke check of one service against the stack's outputs (or `base_url`). On the
    embedded real node the outputs' in-cluster URLs are reached through the Services'
    ClusterIPs. Refused up front, before anything is applied, where it could only fail: on a
    simulated node, whose pods serve nothing."""
    if skip:
        return None
    real = embedded_real_node(context, target.stack) if base_url is None else None
    if base_url is None and real is None and on_embedded_cluster(context, target.stack):
        raise BadInput(
            f"stack {target.stack} runs on the embedded cluster's simulated node, whose pods run no containers, "
            "so its services' in-cluster URLs cannot answer a smoke check: pass --base-url URL where the apps "
            "run (for example the stand-in, `python -m azora.standin`), or --no-smoke"
        )

    def check(service: str, preview: bool) -> list[str]:
        outputs = {key: value.value for key, value in target.handle.outputs().items()}
        try:
            targets = [t for t in targets_from_outputs(outputs, base_url, preview) if t.service == service]
            if real is not None:
                targets = host_targets(targets, api_for(real))
        except (SmokeInputError, ClusterError) as exc:
            return [str(exc)]
        results = run_checks(targets, RetryPolicy())
        if not quiet:
            for result in results:
                err.print(summary_line(result))
        failures = [f"{r.target.service}: {r.error}" for r in results if not r.ok]
        if not failures and not preview and sample:
            # After a switch: the requests users now send must not fail (a health check passes on
            # a release whose application answers 5xx). A post-promotion gate judges users' own
            # requests instead, so this sample runs only without one.
            failures = [f for t in targets if (f := sample_application(t)) is not None]
            if not quiet:
                for sampled in targets:
                    err.print(f"{sampled.service}: {SAMPLE_REQUESTS} application requests sampled")
        return failures

    return check


def _gates(
    context: Context, target: ProjectStack, prometheus_url: str | None, skip: bool, quiet: bool
) -> release.Gates | None:
    """The metric gates of the stack's `azora:analysis`, or None when skipped. The address is
    checked here; the queries run once before anything switches (release.promote)."""
    if skip:
        return None
    _, config = release.read_config(target)
    if not any(config.gate_for(name, phase) for name in config.services for phase in ("prePromotion", "postPromotion")):
        return None
    address = gate_address(config, prometheus_url, target.stack_file.name)
    real = embedded_real_node(context, target.stack) if prometheus_url is None else None

    def resolve(url: str) -> str:
        if real is None:
            return url
        try:
            return host_url(url, api_for(real))
        except ClusterError as exc:
            raise PrometheusUnavailable(f"the gates' Prometheus: {exc}") from None

    def show(measurement: Measurement) -> None:
        if not quiet:
            err.print(f"  {escape(measurement_line(measurement))}", highlight=False)

    return PrometheusGates(
        address, resolve=resolve, on_measurement=show, report=(lambda _: None) if quiet else err.print
    )


def _post_gated(target: ProjectStack, service: str, gates: release.Gates | None) -> bool:
    if gates is None:
        return False
    _, config = release.read_config(target)
    return service in config.services and bool(config.gate_for(service, "postPromotion"))


def _confirmer(yes: bool, question: str) -> release.Confirm | None:
    """Without --yes: show the stack file's diff and the engine's per-resource diff, then ask."""
    if yes:
        return None

    def confirm(target: release.Target, before: str) -> None:
        if not sys.stdin.isatty():
            raise BadInput("--yes must be passed to proceed when not running on a terminal (as pulumi says)")
        after = target.stack_file.read_text()
        for line in difflib.unified_diff(
            before.splitlines(), after.splitlines(), target.stack_file.name, target.stack_file.name, lineterm="", n=1
        ):
            err.print(escape(line), highlight=False)
        result, events = run_preview(target.handle, target.stack)
        err.print(f"preview of {target.stack}: {summary(result.change_summary)}")
        print_changes(resource_changes(events))
        if not typer.confirm(question, default=False, err=True):
            raise Cancelled("cancelled; nothing was applied and the stack file is unchanged")

    return confirm


def _emit(as_json: bool, data: dict[str, Any]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))


def deploy_command(
    ctx: typer.Context,
    stack: str = STACK,
    service: str = SERVICE,
    version: str = typer.Option(..., "--version", help="The image tag for the idle colour.", show_default=False),
    auto_promote: bool = typer.Option(False, "--auto-promote", help="Promote when the preview smoke passes."),
    base_url: str | None = BASE_URL,
    no_smoke: bool = NO_SMOKE,
    prometheus_url: str | None = PROMETHEUS_URL,
    skip_analysis: bool = SKIP_ANALYSIS,
    yes: bool = YES,
    verbose: bool = VERBOSE,
    as_json: bool = JSON,
) -> None:
    """Put VERSION on the idle colour at full size, apply, smoke the preview Service."""
    target = open_stack(of(ctx), stack)
    gates = _gates(of(ctx), target, prometheus_url, skip_analysis, as_json)
    smoke = _smoke(of(ctx), target, base_url, no_smoke, as_json, sample=not _post_gated(target, service, gates))
    with progress_view(
        err, f"deploying {service} {version} to {stack}", enabled=not as_json, on_output=engine_output(verbose)
    ) as view:
        result = release.deploy(
            target, service, version, smoke, auto_promote, view, _confirmer(yes, f"deploy {service} {version}?"), gates
        )
    data: dict[str, Any] = {"stack": stack, **asdict(result)}
    if result.smoke_failures:
        _emit(as_json, data | {"result": "preview smoke failed"})
        raise EngineError(f"preview smoke of {service} failed: {'; '.join(result.smoke_failures)}")
    if result.promoted is not None:
        _report_promotion(result.promoted, as_json, data)
        return
    _emit(as_json, data | {"result": "deployed"})
    if not as_json:
        out.print(f"[green]✓[/] {service} {version} runs on {result.color} (preview Service {service}-preview)")
        out.print(f"promote with: azora promote --stack {stack} --service {service}")


def _report_promotion(result: release.PromoteResult, as_json: bool, data: dict[str, Any] | None = None) -> None:
    data = (data or {}) | {"promotion": asdict(result)}
    service, old, new = result.service, result.from_color, result.to_color
    flags = f"--stack {data.get('stack', '<stack>')} --service {service}"
    if result.decision == "switched-back":
        _emit(as_json, data | {"result": "switched back"})
        details = result.smoke_failures or [_gate_reason(result, "postPromotion")]
        raise release.GateFailed(f"{service}: the post-promotion check failed; switched back to {old}", details=details)
    if result.decision == "aborted":
        _emit(as_json, data | {"result": "aborted"})
        raise release.ReleaseError(
            f"{service}: the pre-promotion gate failed on {new}; nothing was switched ({old} stays active)",
            details=[_gate_reason(result, "prePromotion")],
        )
    if result.decision == "held":
        _emit(as_json, data | {"result": "held"})
        after = "postPromotion" in result.analysis
        where = (
            f"{new} stays active and {old} stays up (scale-down waits for a person): `azora promote {flags}` "
            f"switches back to {old}; `azora scale-down --now {flags}` keeps {new} unverified"
            if after
            else f"nothing was switched ({old} stays active); send traffic to the preview and promote again"
        )
        raise release.ReleaseError(
            f"{service}: the {'post' if after else 'pre'}-promotion gate was inconclusive (too little traffic); "
            + where,
            details=[_gate_reason(result, "postPromotion" if after else "prePromotion")],
            exit_code=ExitCode.INCONCLUSIVE,
        )
    _emit(as_json, data | {"result": result.decision})
    if not as_json:
        how = " (verified by its post-promotion gate)" if result.decision == "verified" else ""
        out.print(f"[green]✓[/] {service} is live on {new}{how}")


def _gate_reason(result: release.PromoteResult, phase: str) -> str:
    evidence = result.analysis.get(phase) or {}
    return f"{phase} {evidence.get('verdict', '?')}: " + "; ".join(
        f"{check['name']}: {check['reason']}"
        for check in evidence.get("checks", [])
        if check["verdict"] != "Successful"
    )


def promote_command(
    ctx: typer.Context,
    stack: str = STACK,
    service: str = SERVICE,
    base_url: str | None = BASE_URL,
    no_smoke: bool = NO_SMOKE,
    prometheus_url: str | None = PROMETHEUS_URL,
    skip_analysis: bool = SKIP_ANALYSIS,
    yes: bool = YES,
    verbose: bool = VERBOSE,
    as_json: bool = JSON,
) -> None:
    """Gate the preview colour, switch, smoke and gate the new colour; switch back at once if
    a post-promotion check fails (exit 3). An inconclusive gate holds the release (exit 4)."""
    target = open_stack(of(ctx), stack)
    gates = _gates(of(ctx), target, prometheus_url, skip_analysis, as_json)
    smoke = _smoke(of(ctx), target, base_url, no_smoke, as_json, sample=not _post_gated(target, service, gates))
    with progress_view(
        err, f"promoting {service} on {stack}", enabled=not as_json, on_output=engine_output(verbose)
    ) as view:
        result = release.promote(
            target, service, smoke, view, _confirmer(yes, f"switch {service} to its idle colour?"), gates
        )
    _report_promotion(result, as_json, {"stack": stack})


def scale_down_command(
    ctx: typer.Context,
    stack: str = STACK,
    service: str | None = typer.Option(None, "--service", help="Only this service."),
    now: bool = typer.Option(False, "--now", help="Do not wait for scaleDownDelaySeconds."),
    yes: bool = YES,
    as_json: bool = JSON,
) -> None:
    """Drop old colours to their preview replicas once scaleDownDelaySeconds has passed."""
    target = open_stack(of(ctx), stack)
    with progress_view(err, f"scaling down old colours of {stack}", enabled=not as_json) as view:
        done = release.scale_down(target, service, force=now, progress=view, confirm=_confirmer(yes, "scale down?"))
    _emit(as_json, {"stack": stack, "scaledDown": done})
    if not as_json:
        out.print(f"scaled down: {', '.join(done)}" if done else "nothing to scale down yet")


def rollback_command(
    ctx: typer.Context,
    stack: str = STACK,
    to_version: int | None = typer.Option(None, "--to-version", help="Update number from `azora history`."),
    verified: bool = typer.Option(
        False, "--verified", help="Only to a revision whose post-promotion gate passed (history's `verified`)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    yes: bool = YES,
    verbose: bool = VERBOSE,
    as_json: bool = JSON,
) -> None:
    """Restore the config of an earlier successful update and apply it."""
    target = open_stack(of(ctx), stack, build=not dry_run, needs_cluster=not dry_run)
    plan = rollbacks.plan_rollback(target, to_version, verified)
    data = {
        "stack": stack,
        "toVersion": plan.version,
        "message": plan.message,
        "changes": [asdict(change) for change in plan.changes],
    }
    if not as_json:
        out.print(f"rollback {stack} to update {plan.version} ({escape(plan.message)}); config that changes:")
        for change in plan.changes:
            out.print(f"  {escape(change.key)}: {escape(change.before)} -> {escape(change.after)}", highlight=False)
    if dry_run:
        _emit(as_json, data | {"dryRun": True})
        return
    with progress_view(
        err, f"rolling {stack} back to update {plan.version}", enabled=not as_json, on_output=engine_output(verbose)
    ) as view:
        result = rollbacks.rollback(target, plan, view, _confirmer(yes, "apply?"))
    changes = op_counts(result.summary.resource_changes)
    _emit(as_json, data | {"resourceChanges": changes})
    if not as_json:
        out.print(f"[green]✓[/] rolled back: {summary(changes)}")


def history_command(
    ctx: typer.Context,
    stack: str = STACK,
    limit: int | None = typer.Option(None, "--max", "-m", min=1, help="Show at most N updates, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One row per update: version, time, kind, result, message, colours and versions."""
    rows = rollbacks.history(open_stack(of(ctx), stack, needs_cluster=False, build=False), limit)
    if as_json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return
    table = Table("version", "time", "kind", "result", "verified", "message", "services (active: blue / green)")
    for row in rows:
        services = "\n".join(
            f"{name}: {svc['activeColor']} {svc['versions'].get('blue', '-')} / {svc['versions'].get('green', '-')}"
            + (" ✓" if svc["verified"] else "")
            for name, svc in sorted(row.services.items())
        )
        table.add_row(
            str(row.version),
            row.time[:19],
            row.kind,
            row.result,
            ", ".join(row.verified),
            escape(row.message),
            services,
        )
    out.print(table)
