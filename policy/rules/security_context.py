"""Pod security rules: what Pod Security 'restricted' demands, plus no service account token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import (
    WORKLOADS,
    Container,
    containers,
    pod_spec,
    pod_spec_path,
    service_accounts,
    token_mounted,
)

SAFE_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


def _effective(container: Container, pod: Any, key: str) -> Any:
    """A container's securityContext setting, falling back to the pod's (as the kubelet does)."""
    value = get(container.spec, "securityContext", key)
    if value is None:
        value = get(pod, "securityContext", key)
    return value


def _per_container(resource: Resource, test: Callable[[Container, Any], Iterator[Finding]]) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
        else:
            yield from test(container, pod)


def check_non_root(resource: Resource, options: Options) -> Iterator[Finding]:
    def test(container: Container, pod: Any) -> Iterator[Finding]:
        non_root = _effective(container, pod, "runAsNonRoot")
        user = _effective(container, pod, "runAsUser")
        if non_root is UNKNOWN or user is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.runAsNonRoot")
        elif user == 0:
            yield Finding(f"container {container.name!r} runs as user 0; set runAsUser to a non-zero UID")
        elif non_root is not True:
            yield Finding(
                f"container {container.name!r} ({container.path}) does not set runAsNonRoot: true "
                "(in its or the pod's securityContext)"
            )

    yield from _per_container(resource, test)


def _container_flag(key: str, wanted: bool, fix: str) -> Callable[[Resource, Options], Iterator[Finding]]:
    def check(resource: Resource, options: Options) -> Iterator[Finding]:
        def test(container: Container, pod: Any) -> Iterator[Finding]:
            value = get(container.spec, "securityContext", key)
            if value is UNKNOWN:
                yield unknown(f"{container.path}.securityContext.{key}")
            elif value is not wanted:
                yield Finding(f"container {container.name!r} ({container.path}): {fix}")

        yield from _per_container(resource, test)

    return check


def check_no_privileged(resource: Resource, options: Options) -> Iterator[Finding]:
    def test(container: Container, pod: Any) -> Iterator[Finding]:
        value = get(container.spec, "securityContext", "privileged")
        if value is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.privileged")
        elif value is True:
            yield Finding(f"container {container.name!r} ({container.path}) is privileged; remove privileged: true")

    yield from _per_container(resource, test)


def check_capabilities(resource: Resource, options: Options) -> Iterator[Finding]:
    def test(container: Container, pod: Any) -> Iterator[Finding]:
        caps = get(container.spec, "securityContext", "capabilities")
        if caps is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.capabilities")
            return
        drop = get(caps, "drop") or []
        add = get(caps, "add") or []
        if drop is UNKNOWN or add is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.capabilities")
            return
        if UNKNOWN in drop:
            yield unknown(f"{container.path}.securityContext.capabilities.drop")
        elif "ALL" not in drop:
            yield Finding(
                f"container {container.name!r} ({container.path}) does not drop ALL capabilities; "
                "add capabilities.drop: [ALL]"
            )
        if UNKNOWN in add:
            yield unknown(f"{container.path}.securityContext.capabilities.add")
        dangerous = sorted({str(cap) for cap in add if cap is not UNKNOWN} - SAFE_ADDED_CAPABILITIES)
        if dangerous:
            yield Finding(
                f"container {container.name!r} ({container.path}) adds capabilities {', '.join(dangerous)}; "
                "only NET_BIND_SERVICE may be added"
            )

    yield from _per_container(resource, test)


def check_seccomp(resource: Resource, options: Options) -> Iterator[Finding]:
    def test(container: Container, pod: Any) -> Iterator[Finding]:
        kind = get(container.spec, "securityContext", "seccompProfile", "type")
        if kind is None:
            kind = get(pod, "securityContext", "seccompProfile", "type")
        if kind is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.seccompProfile")
        elif kind not in ("RuntimeDefault", "Localhost"):
            shown = "none" if kind is None else repr(kind)
            yield Finding(
                f"container {container.name!r} ({container.path}) has seccomp profile {shown}; "
                "set seccompProfile.type: RuntimeDefault on the pod or container"
            )

    yield from _per_container(resource, test)


def check_proc_mount(resource: Resource, options: Options) -> Iterator[Finding]:
    def test(container: Container, pod: Any) -> Iterator[Finding]:
        mount = get(container.spec, "securityContext", "procMount")
        if mount is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.procMount")
        elif mount not in (None, "Default"):
            yield Finding(f"container {container.name!r} ({container.path}) uses procMount {mount!r}; remove it")

    yield from _per_container(resource, test)


def check_token(resources: list[Resource], options: Options) -> Iterator[Finding]:
    """Stack rule: a pod that leaves the setting unset takes its ServiceAccount's, so the set's
    ServiceAccounts are looked up by namespace and name."""
    index = service_accounts(resources)
    for resource in resources:
        if resource.type not in WORKLOADS:
            continue
        path = f"{pod_spec_path(resource)}.automountServiceAccountToken"
        mounted = token_mounted(resource, index)
        if mounted is UNKNOWN:
            yield replace(unknown(path), resource=resource)
        elif mounted:
            yield Finding(
                f"{path} is not false; set it to false (or automountServiceAccountToken: false on its "
                "ServiceAccount), or exempt a workload that calls the Kubernetes API (azora.io/policy-exempt)",
                resource=resource,
            )


RULES = [
    Rule(
        name="run-as-non-root",
        why="A root process that escapes its container is root on the node.",
        fix="Set `runAsNonRoot: true` and a non-zero `runAsUser` in the pod or container securityContext.",
        description="Containers run as a non-root user (runAsNonRoot: true, never UID 0).",
        enforcement="mandatory",
        check=check_non_root,
        types=WORKLOADS,
    ),
    Rule(
        name="no-privileged",
        why="A privileged container has every device and capability of the node.",
        fix="Remove `privileged: true`.",
        description="No container runs privileged.",
        enforcement="mandatory",
        check=check_no_privileged,
        types=WORKLOADS,
    ),
    Rule(
        name="no-privilege-escalation",
        why="setuid binaries could regain the privileges the container dropped.",
        fix="Set `allowPrivilegeEscalation: false`.",
        description="Containers set allowPrivilegeEscalation: false.",
        enforcement="mandatory",
        check=_container_flag("allowPrivilegeEscalation", False, "set securityContext.allowPrivilegeEscalation: false"),
        types=WORKLOADS,
    ),
    Rule(
        name="read-only-root-filesystem",
        why="An attacker cannot drop tools or tamper with the image at run time.",
        fix="Set `readOnlyRootFilesystem: true`; mount an emptyDir where the app writes.",
        description="Containers mount their root filesystem read-only (write to emptyDir volumes).",
        enforcement="mandatory",
        check=_container_flag("readOnlyRootFilesystem", True, "set securityContext.readOnlyRootFilesystem: true"),
        types=WORKLOADS,
    ),
    Rule(
        name="drop-all-capabilities",
        why="Default capabilities (e.g. NET_RAW) are rarely needed and widen the attack surface.",
        fix="Set `capabilities.drop: [ALL]`; add only NET_BIND_SERVICE if needed.",
        description="Containers drop ALL capabilities and add none but NET_BIND_SERVICE.",
        enforcement="mandatory",
        check=check_capabilities,
        types=WORKLOADS,
    ),
    Rule(
        name="seccomp-profile",
        why="Without seccomp every syscall is reachable from the container.",
        fix="Set `seccompProfile.type: RuntimeDefault` on the pod.",
        description="Pods or containers use the RuntimeDefault or a Localhost seccomp profile.",
        enforcement="mandatory",
        check=check_seccomp,
        types=WORKLOADS,
    ),
    Rule(
        name="default-proc-mount",
        why="An unmasked /proc exposes host kernel interfaces.",
        fix="Remove `procMount` or set it to `Default`.",
        description="No container unmasks /proc (procMount other than Default).",
        enforcement="mandatory",
        check=check_proc_mount,
        types=WORKLOADS,
    ),
    Rule(
        name="no-service-account-token",
        why="A mounted token lets a compromised pod call the Kubernetes API.",
        fix=(
            "Set `automountServiceAccountToken: false` on the pod or its ServiceAccount, or exempt a workload "
            "that needs the API, with a reason."
        ),
        description=(
            "Pods do not mount a service account token (set false on the pod, or on its ServiceAccount "
            "in the set) unless the workload is exempted."
        ),
        enforcement="mandatory",
        check=check_token,
        stack=True,
    ),
]
