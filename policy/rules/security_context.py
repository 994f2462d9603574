"""Pod security rules: what Pod Security 'restricted' demands, plus no service account token.

The Pod Security Standards controls these rules enforce are named in each rule's `standard`
(and, where one finding breaks a narrower control than the rule covers, in the finding's); the
controls no rule here covers live in pod_security.py. Like the standards, the rules read init
and ephemeral containers as well as the pod's own settings."""

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
# What Baseline lets a container add (Docker's default set); Restricted allows NET_BIND_SERVICE only.
BASELINE_ADDED_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SECCOMP_PROFILES = ("RuntimeDefault", "Localhost")

RESTRICTED_CAPABILITIES = "Pod Security Standards Restricted: Capabilities"
RESTRICTED_SECCOMP = "Pod Security Standards Restricted: Seccomp"
NON_ROOT = "Pod Security Standards Restricted: Running as Non-root"
NON_ROOT_USER = "Pod Security Standards Restricted: Running as Non-root user"


def _shown(value: Any) -> str:
    """A value the way the manifest spells it (`false`, not `False`)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _per_container(
    resource: Resource, test: Callable[[Container, Any], Iterator[Finding]], *, ephemeral: bool = True
) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    for container in containers(resource, ephemeral=ephemeral):
        if isinstance(container, str):
            yield unknown(container)
        else:
            yield from test(container, pod)


def _pod_non_root(resource: Resource, pod: Any) -> Iterator[Finding]:
    """The pod-level settings, each reported once: a container that inherits them adds nothing."""
    base = f"{pod_spec_path(resource)}.securityContext"
    user = get(pod, "securityContext", "runAsUser")
    if user is UNKNOWN:
        yield replace(unknown(f"{base}.runAsUser"), standard=NON_ROOT_USER)
    elif user == 0:
        yield Finding(f"{base}.runAsUser is 0 (root); set a non-zero UID", standard=NON_ROOT_USER)
    non_root = get(pod, "securityContext", "runAsNonRoot")
    if non_root is UNKNOWN:
        yield replace(unknown(f"{base}.runAsNonRoot"), standard=NON_ROOT)
    elif non_root is not None and non_root is not True:
        yield Finding(f"{base}.runAsNonRoot is {_shown(non_root)}; set it to true", standard=NON_ROOT)


def check_non_root(resource: Resource, options: Options) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is not UNKNOWN:
        yield from _pod_non_root(resource, pod)
    pod_non_root = get(pod, "securityContext", "runAsNonRoot")

    def test(container: Container, pod: Any) -> Iterator[Finding]:
        user = get(container.spec, "securityContext", "runAsUser")
        if user is UNKNOWN:
            yield replace(unknown(f"{container.path}.securityContext.runAsUser"), standard=NON_ROOT_USER)
        elif user == 0:
            yield Finding(
                f"container {container.name!r} ({container.path}) runs as user 0; set runAsUser to a non-zero UID",
                standard=NON_ROOT_USER,
            )
        non_root = get(container.spec, "securityContext", "runAsNonRoot")
        if non_root is UNKNOWN:
            yield replace(unknown(f"{container.path}.securityContext.runAsNonRoot"), standard=NON_ROOT)
        elif non_root is not None and non_root is not True:
            yield Finding(
                f"container {container.name!r} ({container.path}) sets runAsNonRoot: {_shown(non_root)}; "
                "set it to true",
                standard=NON_ROOT,
            )
        elif non_root is None and not any(pod_non_root is value for value in (True, False, UNKNOWN)):
            # Unset here and on the pod (a pod-level false or unknown is reported once, above).
            yield Finding(
                f"container {container.name!r} ({container.path}) does not set runAsNonRoot: true "
                "(in its or the pod's securityContext)",
                standard=NON_ROOT,
            )

    yield from _per_container(resource, test)


def _container_flag(
    key: str, wanted: bool, fix: str, *, ephemeral: bool = True
) -> Callable[[Resource, Options], Iterator[Finding]]:
    def check(resource: Resource, options: Options) -> Iterator[Finding]:
        def test(container: Container, pod: Any) -> Iterator[Finding]:
            value = get(container.spec, "securityContext", key)
            if value is UNKNOWN:
                yield unknown(f"{container.path}.securityContext.{key}")
            elif value is not wanted:
                yield Finding(f"container {container.name!r} ({container.path}): {fix}")

        yield from _per_container(resource, test, ephemeral=ephemeral)

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
                "add capabilities.drop: [ALL]",
                standard=RESTRICTED_CAPABILITIES,
            )
        if UNKNOWN in add:
            yield unknown(f"{container.path}.securityContext.capabilities.add")
        added = {str(cap) for cap in add if cap is not UNKNOWN}
        dangerous = sorted(added - SAFE_ADDED_CAPABILITIES)
        if dangerous:
            # Beyond Baseline's list it breaks both profiles (the rule's own standard).
            narrower = RESTRICTED_CAPABILITIES if added <= BASELINE_ADDED_CAPABILITIES else ""
            yield Finding(
                f"container {container.name!r} ({container.path}) adds capabilities {', '.join(dangerous)}; "
                "only NET_BIND_SERVICE may be added",
                standard=narrower,
            )

    yield from _per_container(resource, test)


def check_seccomp(resource: Resource, options: Options) -> Iterator[Finding]:
    """Restricted wants a profile for every container (its own or the pod's); Baseline forbids
    `Unconfined` anywhere, the pod's too when every container sets its own."""
    pod = pod_spec(resource)
    pod_kind = get(pod, "securityContext", "seccompProfile", "type")
    pod_path = f"{pod_spec_path(resource)}.securityContext.seccompProfile.type"
    if pod is not UNKNOWN:
        if pod_kind is UNKNOWN:
            yield unknown(pod_path)
        elif pod_kind is not None and pod_kind not in SECCOMP_PROFILES:
            yield Finding(f"{pod_path} is {pod_kind!r}; set it to RuntimeDefault (or Localhost)")

    def test(container: Container, pod: Any) -> Iterator[Finding]:
        kind = get(container.spec, "securityContext", "seccompProfile", "type")
        if kind is UNKNOWN:
            yield unknown(f"{container.path}.securityContext.seccompProfile")
        elif kind is None and pod_kind is None:
            yield Finding(
                f"container {container.name!r} ({container.path}) has seccomp profile none; "
                "set seccompProfile.type: RuntimeDefault on the pod or container",
                standard=RESTRICTED_SECCOMP,
            )
        elif kind is not None and kind not in SECCOMP_PROFILES:
            yield Finding(
                f"container {container.name!r} ({container.path}) has seccomp profile {kind!r}; "
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
        standard="Pod Security Standards Restricted: Running as Non-root, Running as Non-root user",
    ),
    Rule(
        name="no-privileged",
        why="A privileged container has every device and capability of the node.",
        fix="Remove `privileged: true`.",
        description="No container runs privileged.",
        enforcement="mandatory",
        check=check_no_privileged,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: Privileged Containers",
    ),
    Rule(
        name="no-privilege-escalation",
        why="setuid binaries could regain the privileges the container dropped.",
        fix="Set `allowPrivilegeEscalation: false`.",
        description="Containers set allowPrivilegeEscalation: false.",
        enforcement="mandatory",
        check=_container_flag("allowPrivilegeEscalation", False, "set securityContext.allowPrivilegeEscalation: false"),
        types=WORKLOADS,
        standard="Pod Security Standards Restricted: Privilege Escalation",
    ),
    Rule(
        name="read-only-root-filesystem",
        why="An attacker cannot drop tools or tamper with the image at run time.",
        fix="Set `readOnlyRootFilesystem: true`; mount an emptyDir where the app writes.",
        description="Containers mount their root filesystem read-only (write to emptyDir volumes).",
        enforcement="mandatory",
        # Not a Pod Security control: a debug (ephemeral) container may well need to write.
        check=_container_flag(
            "readOnlyRootFilesystem", True, "set securityContext.readOnlyRootFilesystem: true", ephemeral=False
        ),
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
        standard="Pod Security Standards Baseline and Restricted: Capabilities",
    ),
    Rule(
        name="seccomp-profile",
        why="Without seccomp every syscall is reachable from the container.",
        fix="Set `seccompProfile.type: RuntimeDefault` on the pod.",
        description="Pods or containers use the RuntimeDefault or a Localhost seccomp profile.",
        enforcement="mandatory",
        check=check_seccomp,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline and Restricted: Seccomp",
    ),
    Rule(
        name="default-proc-mount",
        why="An unmasked /proc exposes host kernel interfaces.",
        fix="Remove `procMount` or set it to `Default`.",
        description="No container unmasks /proc (procMount other than Default).",
        enforcement="mandatory",
        check=check_proc_mount,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: /proc Mount Type",
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
