"""The release workflow on Pulumi's own state: deploy to the idle colour, promote with a
post-check and fast rollback, scale the old colour down, roll back from stack history.

Every step edits the stack's config (the `azora:services` object in `Pulumi.<stack>.yaml`)
and applies it with the policy pack, so each one is an ordinary, reviewable Pulumi update in
the stack's history, with a message saying what it did. Argo Rollouts' names: the idle colour
is the preview, `idleScaledUp` is a preview scaled to full size, `scaleDownDelaySeconds` keeps
the old colour for a fast rollback after a promotion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pulumi import automation as auto

from azora.config.errors import ConfigError
from azora.config.load import decode_config_value, validate_raw
from azora.engine import UpdateError, run_update

ROLLBACK_PREFIX = "azora rollback"
# Messages of the release workflow's own steps: a default rollback goes back past all of them
# to the last update made before the release began.
RELEASE_STEPS = ("azora deploy ", "azora promote ", "azora scale-down ")


class Target(Protocol):
    """A stack the workflow can edit and apply (a ProjectStack or a ScratchStack)."""

    stack: str
    handle: auto.Stack
    stack_file: Path

    def azora_config(self) -> dict[str, Any]: ...

    def set_azora(self, key: str, value: Any) -> None: ...


class ReleaseError(UpdateError):
    """A release step that cannot proceed (bad service, no earlier update, refused update)."""


# A smoke check: (service, preview?) -> list of failures (empty when healthy).
SmokeCheck = Callable[[str, bool], list[str]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _other(color: str) -> str:
    return "green" if color == "blue" else "blue"


def _services(target: Target) -> dict[str, Any]:
    services = target.azora_config().get("services")
    if not isinstance(services, dict):
        raise ReleaseError(f"Pulumi.{target.stack}.yaml has no azora:services mapping")
    return services


def _service(services: Mapping[str, Any], name: str, stack: str) -> dict[str, Any]:
    if name not in services:
        raise ReleaseError(f"Pulumi.{stack}.yaml: no service {name!r} (services: {', '.join(services)})")
    return dict(services[name])


def _validate(target: Target, services: dict[str, Any]) -> None:
    """Check the edited config with the model before anything is written or applied."""
    raw = target.azora_config()
    raw["services"] = services
    secrets = {
        key: {"secure": "<secret>"} for key, value in raw.items() if isinstance(value, dict) and "secure" in value
    }
    raw.update(secrets)
    try:
        validate_raw(raw, f"Pulumi.{target.stack}.yaml")
    except ConfigError as exc:
        raise ReleaseError(str(exc)) from None


def apply(target: Target, message: str, progress: Callable[[str], None] | None = None) -> auto.UpResult:
    """`pulumi up` of the target with the policy pack (see engine.run_update)."""
    return run_update(target.handle, target.stack, message, progress)


def _apply_services(
    target: Target, services: dict[str, Any], message: str, progress: Callable[[str], None] | None
) -> auto.UpResult:
    """Validate the edited services, write them to the stack file and apply. If the update is
    refused or fails, the file gets its previous text back, so it never claims a release the
    cluster did not take (the next `azora up` converges anything partly applied)."""
    _validate(target, services)
    with _unchanged_on_failure(target):
        target.set_azora("services", services)
        return apply(target, message, progress)


@contextlib.contextmanager
def _unchanged_on_failure(target: Target) -> Iterator[None]:
    """Give the stack file its previous text back if anything inside fails or is interrupted:
    a config write, the update itself, or Ctrl-C."""
    saved = target.stack_file.read_text()
    try:
        yield
    except BaseException as exc:
        target.stack_file.write_text(saved)
        if isinstance(exc, UpdateError):
            exc.args = (f"{exc.args[0]}; Pulumi.{target.stack}.yaml is unchanged",)
        raise


# ----------------------------------------------------------------------------- deploy


@dataclass
class DeployResult:
    service: str
    color: str
    version: str
    smoke_failures: list[str] = field(default_factory=list)
    promoted: PromoteResult | None = None


def deploy(
    target: Target,
    service: str,
    version: str,
    smoke: SmokeCheck | None = None,
    auto_promote: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DeployResult:
    """Put `version` on the idle colour at full size, apply (the provider waits until the
    Deployment is Available), smoke-check the preview Service, then promote if asked."""
    services = _services(target)
    svc = _service(services, service, target.stack)
    idle = _other(svc["activeColor"])
    svc["versions"] = {**svc.get("versions", {}), idle: version}
    svc["idleScaledUp"] = True
    services[service] = svc
    _apply_services(target, services, f"azora deploy {service} {version} to {idle} (preview)", progress)
    result = DeployResult(service, idle, version)
    if smoke is not None:
        result.smoke_failures = smoke(service, True)
        if result.smoke_failures:
            return result
    if auto_promote or svc.get("autoPromotion"):
        result.promoted = promote(target, service, smoke, progress)
    return result


# ----------------------------------------------------------------------------- promote


@dataclass
class PromoteResult:
    service: str
    from_color: str
    to_color: str
    smoke_failures: list[str] = field(default_factory=list)
    rolled_back: bool = False


def _switch(target: Target, service: str, to_color: str, message: str, progress: Callable[[str], None] | None) -> None:
    services = _services(target)
    svc = _service(services, service, target.stack)
    svc["activeColor"] = to_color
    # Keep both colours at full size: the switch (and a switch back) only moves selectors.
    svc["idleScaledUp"] = True
    svc["promotedAt"] = _now().isoformat()
    services[service] = svc
    _apply_services(target, services, message, progress)


def promote(
    target: Target, service: str, smoke: SmokeCheck | None = None, progress: Callable[[str], None] | None = None
) -> PromoteResult:
    """Switch the active colour, smoke-check the active Service, and switch straight back if
    the check fails (the old colour is still scaled up, so the way back is only a selector)."""
    svc = _service(_services(target), service, target.stack)
    old = svc["activeColor"]
    new = _other(old)
    if new not in svc.get("versions", {}):
        raise ReleaseError(f"{service}: the idle colour {new!r} has no version; run azora deploy first")
    _switch(target, service, new, f"azora promote {service} to {new}", progress)
    result = PromoteResult(service, old, new)
    if smoke is not None:
        result.smoke_failures = smoke(service, False)
        if result.smoke_failures:
            reason = "; ".join(result.smoke_failures)[:200]
            _switch(target, service, old, f"azora promote {service}: fast rollback to {old} ({reason})", progress)
            result.rolled_back = True
    return result


# ----------------------------------------------------------------------------- scale down


def due_scale_downs(services: Mapping[str, Any], now: dt.datetime | None = None) -> list[str]:
    """Services whose old colour has outlived scaleDownDelaySeconds since the promotion."""
    now = now or _now()
    due = []
    for name, svc in services.items():
        if not svc.get("idleScaledUp"):
            continue
        promoted = svc.get("promotedAt")
        if promoted is None:
            continue  # scaled up by deploy, not yet promoted: the preview stays
        since = dt.datetime.fromisoformat(str(promoted))
        if now >= since + dt.timedelta(seconds=int(svc.get("scaleDownDelaySeconds", 30))):
            due.append(name)
    return due


def scale_down(
    target: Target, only: str | None = None, force: bool = False, progress: Callable[[str], None] | None = None
) -> list[str]:
    """Drop old colours to their preview replicas once their delay has passed (or now, with
    `force`). Returns the services scaled down; applies only when there are some."""
    services = _services(target)
    names = list(services) if only is None else [only]
    for name in names:
        _service(services, name, target.stack)
    chosen = (
        [n for n in names if services[n].get("idleScaledUp")]
        if force
        else [n for n in due_scale_downs(services) if n in names]
    )
    if not chosen:
        return []
    for name in chosen:
        svc = dict(services[name])
        svc.pop("idleScaledUp", None)
        services[name] = svc
    _apply_services(target, services, f"azora scale-down {' '.join(chosen)}", progress)
    return chosen


# ----------------------------------------------------------------------------- history


@dataclass
class HistoryRow:
    version: int
    time: str
    kind: str
    result: str
    message: str
    services: dict[str, dict[str, Any]]


def _decoded(config: Mapping[str, auto.ConfigValue]) -> dict[str, Any]:
    """An update's `azora:` config with objects decoded (history stores them as JSON text)."""
    values: dict[str, Any] = {}
    for key, item in config.items():
        if not key.startswith("azora:"):
            continue
        value: Any = item.value
        if not item.secret and isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        values[key[len("azora:") :]] = value
    return values


def _numbered(entries: list[auto.UpdateSummary]) -> list[tuple[int, auto.UpdateSummary]]:
    """History entries (newest first) with their update numbers; file backends leave
    `version` empty, so count from the oldest (1) as `pulumi stack history` does."""
    total = len(entries)
    return [(entry.version or total - index, entry) for index, entry in enumerate(entries)]


def history(target: Target) -> list[HistoryRow]:
    """One row per update, newest first, with each service's colours from that update's config."""
    rows = []
    for number, entry in _numbered(target.handle.history()):
        services = _decoded(entry.config).get("services") or {}
        summary = {
            name: {"activeColor": svc.get("activeColor"), "versions": svc.get("versions", {})}
            for name, svc in services.items()
            if isinstance(svc, dict)
        }
        rows.append(
            HistoryRow(
                version=number,
                time=entry.start_time.isoformat() if entry.start_time else "",
                kind=entry.kind,
                result=entry.result,
                message=entry.message or "",
                services=summary,
            )
        )
    return rows


# ----------------------------------------------------------------------------- rollback


@dataclass
class RollbackPlan:
    version: int
    message: str
    changes: list[tuple[str, str, str]]  # key, before, after (secrets shown as [secret])
    config: dict[str, auto.ConfigValue]


def _shown(item: auto.ConfigValue | None) -> str:
    if item is None:
        return "(unset)"
    return "[secret]" if item.secret else item.value


def _current_config(target: Target) -> dict[str, auto.ConfigValue]:
    return dict(target.handle.get_all_config())


def _same(a: auto.ConfigValue | None, b: auto.ConfigValue | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.secret != b.secret:
        return False
    try:
        return json.loads(a.value) == json.loads(b.value)
    except (json.JSONDecodeError, TypeError):
        return a.value == b.value


def _diff(
    current: Mapping[str, auto.ConfigValue], wanted: Mapping[str, auto.ConfigValue]
) -> list[tuple[str, str, str]]:
    changes = []
    for key in sorted(set(current) | set(wanted)):
        before, after = current.get(key), wanted.get(key)
        if not _same(before, after):
            changes.append((key, _shown(before), _shown(after)))
    return changes


def plan_rollback(target: Target, to_version: int | None = None) -> RollbackPlan:
    """The config to restore and what changes. Default: the last successful update made before
    the current release (skipping the workflow's deploy/promote/scale-down steps) whose config
    differs from the current one. Refuses entries that failed or carry no config."""
    entries = _numbered(target.handle.history(show_secrets=True))
    current = _current_config(target)
    if to_version is not None:
        chosen = next((e for n, e in entries if n == to_version), None)
        if chosen is None:
            versions = ", ".join(str(n) for n, _ in entries) or "none"
            raise ReleaseError(f"stack {target.stack!r} has no update {to_version} (updates: {versions})")
        if chosen.result != "succeeded":
            raise ReleaseError(f"update {to_version} {chosen.result}; roll back only to a successful update")
        if not chosen.config:
            raise ReleaseError(f"update {to_version} recorded no config; it cannot be restored")
        number = to_version
    else:
        found = next(
            (
                (n, e)
                for n, e in entries
                if e.kind == "update"
                and e.result == "succeeded"
                and e.config
                and not (e.message or "").startswith(RELEASE_STEPS)
                and _diff(current, e.config)
            ),
            None,
        )
        if found is None:
            raise ReleaseError(f"stack {target.stack!r} has no earlier successful update with a different config")
        number, chosen = found
    return RollbackPlan(number, chosen.message or "", _diff(current, chosen.config), dict(chosen.config))


def _validate_restored(target: Target, plan: RollbackPlan) -> None:
    """Check the entry's `azora:` config with today's model before anything is written: an
    entry from before a schema change must be refused, not half-restored."""
    raw: dict[str, Any] = {}
    for key, value in plan.config.items():
        if key.startswith("azora:"):
            name = key[len("azora:") :]
            raw[name] = {"secure": "<secret>"} if value.secret else decode_config_value(name, value.value)
    try:
        validate_raw(raw, f"update {plan.version} of stack {target.stack}")
    except ConfigError as exc:
        raise ReleaseError(
            f"{exc}\nupdate {plan.version}'s config no longer passes the config model; pick another"
        ) from None


def rollback(target: Target, plan: RollbackPlan, progress: Callable[[str], None] | None = None) -> auto.UpResult:
    """Restore the planned config (secrets re-encrypted, never printed) and apply it. If the
    update fails, the stack file gets its previous text back, so a retried `azora rollback`
    plans the same target instead of going one release further back."""
    _validate_restored(target, plan)
    with _unchanged_on_failure(target):
        current = _current_config(target)
        for key in current:
            if key not in plan.config:
                target.handle.remove_config(key)
        plain = {key: value for key, value in plan.config.items() if not value.secret}
        for key, value in plain.items():
            if key.startswith("azora:"):
                # Back into the stack file with the types the model expects (objects, booleans).
                name = key[len("azora:") :]
                target.set_azora(name, decode_config_value(name, value.value))
            else:
                target.handle.set_config(key, value)
        for key, value in plan.config.items():
            if value.secret:
                target.handle.set_config(key, auto.ConfigValue(value.value, secret=True))
        return apply(target, f"{ROLLBACK_PREFIX} to update {plan.version}", progress)
