"""Stack history and rollback: restore the config of an earlier successful update, and apply it.

Pulumi has no rollback of its own (pulumi/pulumi#96: revert code and config, then `up`); each
update in the stack's history records the config it ran with, so this module plans which
entry to restore, shows what changes key by key, and writes it back through the round-trip
stack file (only the lines that change). Entries made before `azora:status` existed keep the
release state under each service; they are read in today's layout, so a rollback across that
change restores the same colours and versions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi import automation as auto

from azora.config.load import decode_config_value
from azora.config.model import SECRET_KEYS, split_legacy_status
from azora.engine import Progress
from azora.errors import ExitCode
from azora.release import RELEASE_STEPS, Confirm, ReleaseError, Target, apply, unchanged_on_failure, validated
from azora.stackfile import StackFile

PREFIX = "azora rollback"
NAMESPACE = "azora:"

# ----------------------------------------------------------------------------- history


@dataclass
class HistoryRow:
    version: int
    time: str
    kind: str
    result: str
    message: str
    services: dict[str, dict[str, Any]]
    verified: list[str] = field(default_factory=list)  # services whose post-promotion gate this update recorded


def all_updates(target: Target, show_secrets: bool = False) -> list[auto.UpdateSummary]:
    """Every update of the stack, newest first. `pulumi stack history` lists 10 unless told
    otherwise (its --page-size defaults to 10, on file backends and Pulumi Cloud alike); 0 asks
    for all, and numbering by position needs all."""
    return target.handle.history(page_size=0, show_secrets=show_secrets)


def _numbered(entries: list[auto.UpdateSummary]) -> list[tuple[int, auto.UpdateSummary]]:
    """History entries (newest first) with their update numbers; file backends leave
    `version` empty, so count from the oldest (1) as `pulumi stack history` does."""
    total = len(entries)
    return [(entry.version or total - index, entry) for index, entry in enumerate(entries)]


def azora_values(config: Mapping[str, auto.ConfigValue]) -> dict[str, Any]:
    """An update's plain `azora:` config in today's layout (objects decoded from the JSON text
    history stores; secrets left out)."""
    values: dict[str, Any] = {}
    for key, item in config.items():
        if key.startswith(NAMESPACE) and not item.secret:
            name = key[len(NAMESPACE) :]
            values[name] = decode_config_value(name, item.value)
    return split_legacy_status(values)[0]


def _services(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each service's active colour, versions and verification, read leniently (old entries)."""
    services = values.get("services")
    services = services if isinstance(services, dict) else {}
    status = values.get("status")
    status = status if isinstance(status, dict) else {}
    summary = {}
    for name, svc in services.items():
        if not isinstance(svc, dict):
            continue
        found = status.get(name)
        entry: dict[str, Any] = found if isinstance(found, dict) else {}
        listed = svc.get("versions")
        versions: dict[str, Any] = listed if isinstance(listed, dict) else {}
        active = entry.get("activeColor", "blue")
        record = entry.get("verified") if isinstance(entry.get("verified"), dict) else None
        summary[name] = {
            "activeColor": active,
            "versions": versions,
            "verified": record is not None
            and record.get("color") == active
            and versions.get(active) == record.get("version"),
            "verifiedAt": record.get("at") if record else None,
        }
    return summary


def history(target: Target, limit: int | None = None) -> list[HistoryRow]:
    """One row per update, newest first (at most `limit`), with each service's colours. An
    update *verified* a service when it recorded a new passing post-promotion gate for the
    revision the service's active colour runs (`azora promote`'s `verified` step)."""
    rows = []
    # All entries are read even with a limit: file backends number updates by their position.
    for number, entry in _numbered(all_updates(target)):
        rows.append(
            HistoryRow(
                version=number,
                time=entry.start_time.isoformat() if entry.start_time else "",
                kind=entry.kind,
                result=entry.result,
                message=entry.message or "",
                services=_services(azora_values(entry.config)),
            )
        )
    for index, newer in enumerate(rows):  # against the last update that went through: a failed one recorded nothing
        before = next((older.services for older in rows[index + 1 :] if older.result == "succeeded"), {})
        newer.verified = sorted(
            name
            for name, svc in newer.services.items()
            if newer.result == "succeeded"
            and svc["verified"]
            and svc["verifiedAt"] != (before.get(name) or {}).get("verifiedAt")
        )
    return rows[: limit or None]


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Change:
    key: str  # a key path, e.g. azora:services.web.versions.green
    before: str
    after: str


@dataclass
class RollbackPlan:
    version: int
    message: str
    changes: list[Change]
    config: dict[str, auto.ConfigValue]  # the entry's config as history recorded it
    current: dict[str, auto.ConfigValue]  # the stack's config when the plan was made


def _flatten(value: Any, prefix: str) -> dict[str, str]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: json.dumps(value) if not isinstance(value, str) else value}


def _comparable(config: Mapping[str, auto.ConfigValue]) -> dict[str, str]:
    """Every leaf of a config as `key path -> shown value`, in today's layout; secrets as a
    marker carrying their value, so a change is seen but never printed."""
    flat: dict[str, str] = {}
    for key, value in _flatten(azora_values(config), "").items():
        flat[NAMESPACE + key[1:]] = value
    for key, item in config.items():
        if item.secret:
            flat[key] = "\x00secret:" + item.value
        elif not key.startswith(NAMESPACE):
            flat[key] = item.value
    return flat


def _shown(value: str | None) -> str:
    if value is None:
        return "(unset)"
    return "[secret]" if value.startswith("\x00secret:") else value


def diff(current: Mapping[str, auto.ConfigValue], wanted: Mapping[str, auto.ConfigValue]) -> list[Change]:
    """What restoring `wanted` changes, leaf by leaf."""
    before, after = _comparable(current), _comparable(wanted)
    return [
        Change(key, _shown(before.get(key)), _shown(after.get(key)))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def plan_rollback(target: Target, to_version: int | None = None, verified: bool = False) -> RollbackPlan:
    """The config to restore and what changes. Default: the last successful update made before
    the current release (skipping the workflow's deploy/promote/scale-down steps) whose config
    differs from the current one. With `verified`: the last update that verified a release
    (history's `verified`), or refuse `to_version` unless it is one. Refuses entries that
    failed or carry no config."""
    entries = _numbered(all_updates(target, show_secrets=True))
    current = dict(target.handle.get_all_config())
    proven = {row.version: row.verified for row in history(target)} if verified else {}
    if to_version is not None:
        chosen = next((e for n, e in entries if n == to_version), None)
        if chosen is None:
            versions = ", ".join(str(n) for n, _ in entries) or "none"
            raise ReleaseError(
                f"stack {target.stack!r} has no update {to_version} (updates: {versions})", exit_code=ExitCode.BAD_INPUT
            )
        if chosen.result != "succeeded":
            raise ReleaseError(
                f"update {to_version} {chosen.result}; roll back only to a successful update",
                exit_code=ExitCode.BAD_INPUT,
            )
        if not chosen.config:
            raise ReleaseError(
                f"update {to_version} recorded no config; it cannot be restored", exit_code=ExitCode.BAD_INPUT
            )
        if verified and not proven.get(to_version):
            known = ", ".join(str(n) for n, names in proven.items() if names) or "none"
            raise ReleaseError(
                f"update {to_version} is not a verified revision (no post-promotion gate passed in it); "
                f"verified updates: {known}",
                exit_code=ExitCode.BAD_INPUT,
            )
        number = to_version
    else:
        found = next(
            (
                (n, e)
                for n, e in entries
                if e.kind == "update"
                and e.result == "succeeded"
                and e.config
                and (proven.get(n) if verified else not (e.message or "").startswith(RELEASE_STEPS))
                and diff(current, e.config)
            ),
            None,
        )
        if found is None:
            what = "verified revision" if verified else "successful update"
            raise ReleaseError(f"stack {target.stack!r} has no earlier {what} with a different config")
        number, chosen = found
    return RollbackPlan(number, chosen.message or "", diff(current, chosen.config), dict(chosen.config), current)


def _check_restorable(target: Target, plan: RollbackPlan) -> dict[str, Any]:
    """The entry's `azora:` config, checked with today's model before anything is written: an
    entry from before a schema change must be refused, not half-restored."""
    values = azora_values(plan.config)
    for key, item in plan.config.items():
        if key.startswith(NAMESPACE) and item.secret:
            values[key[len(NAMESPACE) :]] = {"secure": "<secret>"}
    try:
        validated(values, f"update {plan.version} of stack {target.stack}")
    except ReleaseError as exc:
        raise ReleaseError(
            f"{exc}\nupdate {plan.version}'s config no longer passes the config model; pick another",
            exit_code=ExitCode.BAD_INPUT,
        ) from None
    return {key: value for key, value in values.items() if key not in SECRET_KEYS}


def rollback(
    target: Target, plan: RollbackPlan, progress: Progress | None = None, confirm: Confirm | None = None
) -> auto.UpResult:
    """Restore the planned config (secrets re-encrypted, never printed) and apply it. The stack
    file changes only where the values do. If the update fails, the file gets its previous
    text back, so a retried `azora rollback` plans the same target instead of going one
    release further back."""
    plain = _check_restorable(target, plan)
    with unchanged_on_failure(target) as before:
        document = StackFile.read(target.stack_file)
        current = document.azora()
        for key in current:
            if key not in plain and key not in SECRET_KEYS:
                document.merge(key, None)
        for key, value in plain.items():
            document.merge(key, value)
        document.save()
        # Secrets and other namespaces go through the engine, which encrypts them.
        live = plan.current  # secrets and other namespaces: the file write above left them as they were
        for key, item in live.items():
            in_file = key.startswith(NAMESPACE) and not item.secret
            if not in_file and key not in plan.config:
                target.handle.remove_config(key)
        for key, value in plan.config.items():
            if key.startswith(NAMESPACE) and not value.secret:
                continue
            if not (key in live and live[key].value == value.value and live[key].secret == value.secret):
                target.handle.set_config(key, auto.ConfigValue(value.value, secret=value.secret))
        if confirm is not None:
            confirm(target, before)
        return apply(target, f"{PREFIX} to update {plan.version}", progress)
