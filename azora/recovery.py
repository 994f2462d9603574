"""Recovery after an interrupted update (a `pulumi up` killed mid-way, a CI runner lost).

Such an update can leave three things behind:
- a metadata sidecar cut short mid-write (see azora.state_files), which makes the stack
  unreadable ("failed to load checkpoint: EOF"); `azora up` removes it before opening the stack;
- a lock (on a `file://` backend, `.pulumi/locks/.../<stack>/<id>.json` naming the pid and host
  of the `pulumi` process), which makes every later update fail with "the stack is currently
  locked";
- pending operations in the checkpoint: resources the engine had asked the provider to create,
  update or delete when it died. A pending *create* may or may not exist in the cluster.

`recover` clears a lock only when it is provably stale (same host, and that pid is gone or is a
newer process). It then rewrites the checkpoint (`stack export`, `stack import`) so that every
pending Kubernetes create becomes a resource with its object id, and runs `pulumi refresh`:
an object that was created is adopted, not created twice, and one that was not is dropped.
(`pulumi refresh --import-pending-creates` is meant for this, but the engine we pin drops the
imports instead of reading them.) The refresh also settles pending updates and deletes from the
cluster's real state. `azora up` calls it before its preview.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from pulumi import automation as auto

from azora.engine import PROJECT, EngineError, engine_diagnostics
from azora.liveness import process_start_time
from azora.state_files import lock_files


@dataclass
class Recovery:
    sidecars: list[str] = field(default_factory=list)  # cut-short metadata files removed (state_files)
    stale_locks: list[str] = field(default_factory=list)  # "pid N on host" descriptions
    imported: list[str] = field(default_factory=list)  # URNs adopted from the cluster
    cleared: list[str] = field(default_factory=list)  # URNs dropped from the state
    other_pending: list[str] = field(default_factory=list)  # "update URN" / "delete URN"

    @property
    def anything(self) -> bool:
        return bool(self.sidecars or self.stale_locks or self.imported or self.cleared or self.other_pending)

    def lines(self) -> list[str]:
        lines = [f"removed {path}, a metadata file an interrupted update cut short" for path in self.sidecars]
        lines += [f"cleared the stale lock of an interrupted update ({lock})" for lock in self.stale_locks]
        lines += [f"adopted {urn.rsplit('::', 1)[-1]} (created before the interruption)" for urn in self.imported]
        lines += [f"dropped the unfinished create of {urn.rsplit('::', 1)[-1]}" for urn in self.cleared]
        lines += [f"refreshed the unfinished {op}" for op in self.other_pending]
        return lines


def stale(lock: dict[str, Any], hostname: str) -> bool:
    """A lock is stale when it was taken on this host by a process that no longer runs (its pid
    is gone or a zombie, killed but not yet reaped, that runs nothing and holds nothing), or
    whose pid now belongs to a process started after the lock was taken. Liveness is psutil's
    (azora.liveness), so this holds on macOS as on Linux; a process we may not inspect counts
    as the holder."""
    if lock.get("hostname") != hostname:
        return False
    started = process_start_time(int(lock.get("pid", 0)))
    if started is None:
        return True
    try:
        taken = dt.datetime.fromisoformat(str(lock.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:  # no telling when it was taken: the running process may hold it
        return False
    # 2 s of slack: the lock's clock reading and the process's start time are taken apart.
    return started > taken.timestamp() + 2


def clear_stale_locks(handle: auto.Stack, backend_url: str, recovery: Recovery, project: str = PROJECT) -> None:
    files = lock_files(backend_url, project, handle.name)
    if not files:
        return
    hostname = socket.gethostname()
    locks = []
    for path in files:
        try:
            locks.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            locks.append({})
    live = [lock for lock in locks if not stale(lock, hostname)]
    if live:
        who = ", ".join(f"pid {lock.get('pid')} on {lock.get('hostname')}" for lock in live)
        raise EngineError(
            f"stack {handle.name!r} is locked by a running update ({who}); wait for it to finish. "
            f"If that process is gone, remove the lock with: pulumi cancel --stack {handle.name}"
        )
    handle.cancel()  # deletes the stack's lock files (file backends)
    recovery.stale_locks += [f"pid {lock.get('pid')}, {lock.get('timestamp', '?')}" for lock in locks]


def object_id(resource: dict[str, Any]) -> str | None:
    """The provider id of a Kubernetes resource from its inputs: `namespace/name` or `name`."""
    if not str(resource.get("type", "")).startswith("kubernetes:"):
        return None
    metadata = (resource.get("inputs") or {}).get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str):
        return None
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def pending_operations(handle: auto.Stack) -> list[dict[str, Any]]:
    deployment = handle.export_stack().deployment or {}
    return list(deployment.get("pending_operations") or [])


def adopt_pending_creates(deployment: dict[str, Any], recovery: Recovery) -> dict[str, Any]:
    """The checkpoint with every pending Kubernetes create turned into a resource with its
    object id (the refresh that follows reads it from the cluster, or drops it when the object
    was never made) and every other pending operation removed (the refresh settles updates and
    deletes from the cluster's real state). Appended at the end, after everything it depends on:
    the engine records a pending create only once its parent and dependencies exist."""
    resources = list(deployment.get("resources") or [])
    for op in deployment.get("pending_operations") or []:
        resource = dict(op.get("resource") or {})
        urn = str(resource.get("urn", ""))
        if op.get("type") != "creating":
            recovery.other_pending.append(f"{op.get('type', '?')} of {urn.rsplit('::', 1)[-1]}")
            continue
        ident = object_id(resource)
        if ident is None:
            recovery.cleared.append(urn)
            continue
        resource["id"] = ident
        resource.setdefault("outputs", resource.get("inputs") or {})
        resources.append(resource)
        recovery.imported.append(urn)
    return {**deployment, "resources": resources, "pending_operations": []}


def recover(
    handle: auto.Stack, backend_url: str, sidecars: list[str] | None = None, project: str = PROJECT
) -> Recovery:
    """Clear a stale lock and settle pending operations; a no-op for a clean stack. `sidecars`:
    the broken metadata files removed before the stack could be opened, for the report."""
    recovery = Recovery(sidecars=list(sidecars or []))
    clear_stale_locks(handle, backend_url, recovery, project)
    exported = handle.export_stack()
    deployment = exported.deployment or {}
    if not deployment.get("pending_operations"):
        return recovery
    fixed = adopt_pending_creates(dict(deployment), recovery)
    try:
        handle.import_stack(auto.Deployment(version=exported.version, deployment=fixed))
        handle.refresh(color="never", message="azora up: recover from an interrupted update")
    except auto.errors.CommandError as exc:
        raise EngineError(
            f"recovering stack {handle.name!r} from an interrupted update failed: {engine_diagnostics(exc)}"
        ) from None
    # The refresh read every adopted object: those the cluster never got are gone from state.
    remaining = {r.get("urn") for r in (handle.export_stack().deployment or {}).get("resources") or []}
    for urn in list(recovery.imported):
        if urn not in remaining:
            recovery.imported.remove(urn)
            recovery.cleared.append(urn)
    return recovery
