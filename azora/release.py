"""The release workflow on Pulumi's own state: deploy to the idle colour, promote with a
post-check and fast switch-back, scale the old colour down. (Rollback and history: rollback.py.)

Every step edits the stack file and applies it with the policy pack, so each one is an
ordinary, reviewable Pulumi update in the stack's history, with a message saying what it did.

What a person writes and what the workflow records are kept apart, as Argo Rollouts keeps
`spec` apart from `status`: `deploy` changes one line of intent (the idle colour's version
under `azora:services`), and every step records its state under `azora:status` (activeColor,
idleScaledUp, promotedAt), one line per service. Steps work on the typed config model and
write through azora.stackfile, which keeps comments, order, flow style and quoting, so a
release PR reads as the few lines that changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pulumi import automation as auto

from azora.config.errors import ConfigError
from azora.config.load import validate_raw
from azora.config.model import (
    LEGACY_STATUS_KEYS,
    SECRET_KEYS,
    Color,
    ServiceStatus,
    StackConfig,
    split_legacy_status,
)
from azora.config.status import AnalysisRun, Revision
from azora.engine import Progress, UpdateError, run_update
from azora.errors import AzoraError, ExitCode
from azora.gates.plan import POST, PRE, evidence_line
from azora.gates.result import GateResult, Phase
from azora.stackfile import StackFile

# Messages of the release workflow's own steps: a default rollback goes back past all of them
# to the last update made before the release began.
RELEASE_STEPS = ("azora deploy ", "azora promote ", "azora scale-down ")
STATUS_COMMENT = (
    "Release state, recorded by azora deploy / promote / scale-down / rollback (Argo's status):\n"
    "the active colour of each service, whether its idle colour is scaled up, when it was promoted."
)


class Target(Protocol):
    """A stack the workflow can edit and apply (a ProjectStack or a ScratchStack)."""

    stack: str
    handle: auto.Stack
    stack_file: Path


class ReleaseError(AzoraError):
    """A release step that cannot proceed (bad service, idle colour without a version)."""


class GateFailed(AzoraError):
    """A post-promotion check failed and the service was switched back cleanly."""

    exit_code = ExitCode.SWITCHED_BACK


# A smoke check: (service, preview?) -> list of failures (empty when healthy).
SmokeCheck = Callable[[str, bool], list[str]]


class Gates(Protocol):
    """Runs a service's metric gates (azora.gates.runner.PrometheusGates)."""

    def preflight(self, config: StackConfig, service: str, old: Color, new: Color) -> None:
        """Check every query of both gates once; raise before anything switches."""

    def run(self, config: StackConfig, service: str, phase: str, color: Color) -> GateResult | None:
        """Run the `phase` gate with `color` under test; None when it has no checks."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def validated(raw: dict[str, Any], source: str) -> StackConfig:
    """The config model of raw `azora:` values; secrets are checked for presence only."""
    values = {key: {"secure": "<secret>"} if key in SECRET_KEYS else value for key, value in raw.items()}
    try:
        return validate_raw(values, source)
    except ConfigError as exc:
        raise ReleaseError(str(exc), exit_code=ExitCode.BAD_INPUT) from None


def read_config(target: Target) -> tuple[StackFile, StackConfig]:
    """The stack file (for round-trip edits) and its validated model."""
    try:
        document = StackFile.read(target.stack_file)
    except ConfigError as exc:
        raise ReleaseError(str(exc), exit_code=ExitCode.BAD_INPUT) from None
    return document, validated(document.azora(), target.stack_file.name)


def status_record(status: ServiceStatus) -> dict[str, Any]:
    """A service's status as the file keeps it: only what is set."""
    record: dict[str, Any] = {"activeColor": status.active_color}
    if status.idle_scaled_up:
        record["idleScaledUp"] = True
    if status.promoted_at is not None:
        record["promotedAt"] = status.promoted_at
    for key, value in (("analysis", status.analysis), ("verified", status.verified)):
        if value is not None:
            record[key] = value.model_dump(by_alias=True, exclude_none=True)
    return record


def move_legacy_status(document: StackFile) -> list[str]:
    """Files from before `azora:status` keep release state under each service: move it (once,
    on the first release step that writes), so intent and status stay apart from then on."""
    raw, moved = split_legacy_status(document.azora())
    for name in moved:
        for key in LEGACY_STATUS_KEYS:
            document.delete(["services", name, key])
        document.set(["status", name], raw["status"][name], comment=STATUS_COMMENT)
    return moved


def write_status(document: StackFile, name: str, status: ServiceStatus) -> None:
    document.set(["status", name], status_record(status), comment=STATUS_COMMENT)


def apply(target: Target, message: str, progress: Progress | None = None) -> auto.UpResult:
    """`pulumi up` of the target with the policy pack (see engine.run_update)."""
    before = getattr(target, "before_update", None)
    if before is not None:
        before()
    return run_update(target.handle, target.stack, message, progress)


# Called with the file written and nothing applied yet: may preview and ask, or raise to stop
# (the file then gets its previous text back).
Confirm = Callable[[Target, str], None]  # (target, the stack file's text before the step)


def apply_document(
    target: Target, document: StackFile, message: str, progress: Progress | None, confirm: Confirm | None = None
) -> auto.UpResult:
    """Validate the edited file, write it, confirm, and apply. If the update is refused or
    fails, or the user declines, the file gets its previous text back, so it never claims a
    release the cluster did not take (the next `azora up` converges anything partly applied)."""
    validated(document.azora(), target.stack_file.name)
    with unchanged_on_failure(target) as before:
        document.save()
        if confirm is not None:
            confirm(target, before)
        return apply(target, message, progress)


@contextlib.contextmanager
def unchanged_on_failure(target: Target) -> Iterator[str]:
    """Give the stack file its previous text (yielded) back if anything inside fails or is
    interrupted: a config write, the update itself, a declined prompt, or Ctrl-C."""
    saved = target.stack_file.read_text()
    try:
        yield saved
    except BaseException as exc:
        target.stack_file.write_text(saved)
        if isinstance(exc, UpdateError):
            exc.args = (f"{exc.args[0]}; Pulumi.{target.stack}.yaml is unchanged",)
        raise


def _service(config: StackConfig, name: str, stack: str) -> None:
    if name not in config.services:
        raise ReleaseError(
            f"Pulumi.{stack}.yaml: no service {name!r} (services: {', '.join(config.services)})",
            exit_code=ExitCode.BAD_INPUT,
        )


# ----------------------------------------------------------------------------- deploy


@dataclass
class DeployResult:
    service: str
    color: Color
    version: str
    smoke_failures: list[str] = field(default_factory=list)
    promoted: PromoteResult | None = None


def deploy(
    target: Target,
    service: str,
    version: str,
    smoke: SmokeCheck | None = None,
    auto_promote: bool = False,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
    gates: Gates | None = None,
) -> DeployResult:
    """Put `version` on the idle colour at full size, apply (the provider waits until the
    Deployment is Available), smoke-check the preview Service, then promote if asked."""
    document, config = read_config(target)
    _service(config, service, target.stack)
    move_legacy_status(document)
    status = config.status_of(service)
    idle = status.idle_color
    document.set(["services", service, "versions", idle], version)
    write_status(document, service, status.model_copy(update={"idle_scaled_up": True}))
    apply_document(target, document, f"azora deploy {service} {version} to {idle} (preview)", progress, confirm)
    result = DeployResult(service, idle, version)
    if smoke is not None:
        result.smoke_failures = smoke(service, True)
        if result.smoke_failures:
            return result
    if auto_promote or config.services[service].auto_promotion:
        result.promoted = promote(target, service, smoke, progress, gates=gates)
    return result


# ----------------------------------------------------------------------------- promote


@dataclass
class PromoteResult:
    service: str
    from_color: Color
    to_color: Color
    smoke_failures: list[str] = field(default_factory=list)
    switched_back: bool = False
    # The gates' evidence (GateResult.as_dict) by phase, and what they decided.
    analysis: dict[str, Any] = field(default_factory=dict)
    decision: str = "promoted"  # promoted | verified | held | switched-back | aborted


def _switch(
    target: Target,
    service: str,
    to_color: Color,
    message: str,
    progress: Progress | None,
    confirm: Confirm | None = None,
    analysis: AnalysisRun | None = None,
) -> None:
    document, config = read_config(target)
    move_legacy_status(document)
    # Both colours stay at full size: the switch (and a switch back) only moves selectors.
    before = config.status_of(service)
    status = ServiceStatus(
        active_color=to_color,
        idle_scaled_up=True,
        promoted_at=now().isoformat(),
        analysis=analysis,
        verified=before.verified,
    )
    write_status(document, service, status)
    apply_document(target, document, message, progress, confirm)


def _record(target: Target, service: str, message: str, progress: Progress | None, **changes: Any) -> None:
    """An update that records the gate's outcome in the service's status (no resource changes)."""
    document, config = read_config(target)
    move_legacy_status(document)
    write_status(document, service, config.status_of(service).model_copy(update=changes))
    apply_document(target, document, message, progress)


def promote(
    target: Target,
    service: str,
    smoke: SmokeCheck | None = None,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
    gates: Gates | None = None,
) -> PromoteResult:
    """Run the pre-promotion gate on the preview colour, switch the active colour, smoke-check
    the active Service and run the post-promotion gate; switch straight back if either fails
    (the old colour is still scaled up, so the way back is only a selector). A gate that cannot
    decide holds: before the switch nothing switches; after it the old colour stays up."""
    _, config = read_config(target)
    _service(config, service, target.stack)
    old = config.status_of(service).active_color
    new = config.status_of(service).idle_color
    version = config.services[service].versions.get(new)
    if version is None:
        raise ReleaseError(
            f"{service}: the idle colour {new!r} has no version; run azora deploy first", exit_code=ExitCode.BAD_INPUT
        )
    result = PromoteResult(service, old, new)
    pre = post = None
    if gates is not None:
        gates.preflight(config, service, old, new)
        pre = gates.run(config, service, PRE, new)
        if pre is not None:
            result.analysis[PRE] = pre.as_dict()
            if pre.verdict is not Phase.SUCCESSFUL:
                result.decision = "held" if pre.verdict is Phase.INCONCLUSIVE else "aborted"
                return result
    will_verify = gates is not None and bool(config.gate_for(service, POST))
    run = None
    if pre is not None or will_verify:
        run = AnalysisRun(
            color=new,
            version=version,
            at=now().isoformat(),
            pre_promotion=pre.verdict.value if pre is not None else None,
            decision="analyzing" if will_verify else "promoted",
        )
    evidence = f" ({evidence_line(pre)})" if pre is not None else ""
    _switch(target, service, new, f"azora promote {service} to {new}{evidence}", progress, confirm, run)
    if smoke is not None:
        result.smoke_failures = smoke(service, False)
        if result.smoke_failures:
            reason = "; ".join(result.smoke_failures)[:200]
            failed = run.model_copy(update={"decision": "switched-back"}) if run is not None else None
            _switch(
                target, service, old, f"azora promote {service}: switched back to {old} ({reason})", progress,
                analysis=failed,
            )  # fmt: skip
            result.switched_back, result.decision = True, "switched-back"
            return result
    if gates is not None and will_verify:
        post = gates.run(config, service, POST, new)
    if post is None:
        return result
    result.analysis[POST] = post.as_dict()
    assert run is not None
    outcome = run.model_copy(update={"post_promotion": post.verdict.value, "at": now().isoformat()})
    line = evidence_line(post)
    if post.verdict is Phase.SUCCESSFUL:
        verified = Revision(color=new, version=version, at=outcome.at)
        _record(
            target, service, f"azora promote {service}: verified {new} {version} ({line})", progress,
            analysis=outcome.model_copy(update={"decision": "verified"}), verified=verified,
        )  # fmt: skip
        result.decision = "verified"
    elif post.verdict is Phase.INCONCLUSIVE:
        _record(
            target, service, f"azora promote {service}: held on {new} {version} ({line})", progress,
            analysis=outcome.model_copy(update={"decision": "held"}),
        )  # fmt: skip
        result.decision = "held"
    else:
        _switch(
            target, service, old, f"azora promote {service}: switched back to {old} ({line})", progress,
            analysis=outcome.model_copy(update={"decision": "switched-back"}),
        )  # fmt: skip
        result.switched_back, result.decision = True, "switched-back"
    return result


# ----------------------------------------------------------------------------- scale down


def due_scale_downs(config: StackConfig, at: dt.datetime | None = None) -> list[str]:
    """Services whose old colour has outlived scaleDownDelaySeconds since the promotion."""
    at = at or now()
    due = []
    for name, svc in config.services.items():
        status = config.status_of(name)
        if not status.idle_scaled_up or status.promoted_at is None:
            continue  # not scaled up, or scaled up by deploy and not yet promoted: the preview stays
        if status.held:
            continue  # a post-promotion gate runs or could not decide: the way back stays open
        since = dt.datetime.fromisoformat(status.promoted_at)
        if at >= since + dt.timedelta(seconds=svc.scale_down_delay_seconds):
            due.append(name)
    return due


def scale_down(
    target: Target,
    only: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
) -> list[str]:
    """Drop old colours to their preview replicas once their delay has passed (or now, with
    `force`). Returns the services scaled down; applies only when there are some."""
    document, config = read_config(target)
    names = list(config.services) if only is None else [only]
    for name in names:
        _service(config, name, target.stack)
    if force:
        chosen = [n for n in names if config.status_of(n).idle_scaled_up]
    else:
        chosen = [n for n in due_scale_downs(config) if n in names]
    if not chosen:
        return []
    move_legacy_status(document)
    for name in chosen:
        write_status(document, name, config.status_of(name).model_copy(update={"idle_scaled_up": False}))
    apply_document(target, document, f"azora scale-down {' '.join(chosen)}", progress, confirm)
    return chosen
