"""The Pod Security Standards controls no other rule covers: HostProcess, AppArmor, SELinux,
Sysctls and Host Probes / Lifecycle Hooks (Baseline), and Volume Types (Restricted).

The allowed values are the ones the Pod Security Standards page lists for Kubernetes 1.34, the
version the kind rules check against. Each rule reads the pod's settings and every container's,
init and ephemeral containers too, as the standard does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import (
    POD_TEMPLATE_PATHS,
    PROBES,
    WORKLOADS,
    containers,
    pod_spec,
    pod_spec_path,
    pod_template,
)

APPARMOR_PROFILES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# Namespaced sysctls that touch nothing outside the pod (the kubelet's own safe set).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
# hostPath is Restricted's too, but no-host-path (Baseline) already reports it.
VOLUME_SOURCES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
HOOKS = ("postStart", "preStop")


def _security_contexts(resource: Resource) -> Iterator[tuple[str, Any] | str]:
    """The pod's securityContext and every container's, each as (path, value); the path alone of
    a pod spec or container list that is not known yet."""
    pod = pod_spec(resource)
    base = pod_spec_path(resource)
    if pod is UNKNOWN:
        yield base
        return
    yield f"{base}.securityContext", get(pod, "securityContext")
    for container in containers(resource, ephemeral=True):
        if isinstance(container, str):
            yield container
        else:
            yield f"{container.path}.securityContext", get(container.spec, "securityContext")


def _context_fields(resource: Resource, *field: str) -> Iterator[tuple[str, Any] | Finding]:
    """`field` of the pod's and every container's securityContext as (its path, its value); a
    part not known yet as the unknown finding that names it."""
    for context in _security_contexts(resource):
        if isinstance(context, str):
            yield unknown(context)
            continue
        path = ".".join((context[0], *field))
        value = get(context[1], *field)
        yield unknown(path) if value is UNKNOWN else (path, value)


def check_host_process(resource: Resource, options: Options) -> Iterator[Finding]:
    for item in _context_fields(resource, "windowsOptions", "hostProcess"):
        if isinstance(item, Finding):
            yield item
        elif item[1] is True:
            yield Finding(
                f"{item[0]} is true: HostProcess containers run as processes on the Windows node itself; remove it"
            )


def _template_annotations_path(resource: Resource) -> str:
    parent = ".".join(POD_TEMPLATE_PATHS.get(resource.type, ()))
    return f"{parent}.metadata.annotations" if parent else "metadata.annotations"


def _apparmor_annotations(resource: Resource) -> Iterator[Finding]:
    """The annotations that set AppArmor before securityContext.appArmorProfile (Kubernetes 1.30)."""
    path = _template_annotations_path(resource)
    annotations = get(pod_template(resource), "metadata", "annotations")
    if annotations is UNKNOWN:
        yield unknown(path)
        return
    if not isinstance(annotations, Mapping):
        return
    for key, value in annotations.items():
        if not str(key).startswith(APPARMOR_ANNOTATION):
            continue
        if value is UNKNOWN:
            yield unknown(f"{path}['{key}']")
        elif value != "runtime/default" and not str(value).startswith("localhost/"):
            yield Finding(
                f"{path}['{key}'] is {value!r}; set it to runtime/default or localhost/<profile> "
                "(or use securityContext.appArmorProfile)"
            )


def check_apparmor(resource: Resource, options: Options) -> Iterator[Finding]:
    for item in _context_fields(resource, "appArmorProfile", "type"):
        if isinstance(item, Finding):
            yield item
        elif item[1] is not None and item[1] not in APPARMOR_PROFILES:
            yield Finding(
                f"{item[0]} is {item[1]!r}; set it to RuntimeDefault (or Localhost with a localhostProfile), "
                "or remove it"
            )
    yield from _apparmor_annotations(resource)


def check_selinux(resource: Resource, options: Options) -> Iterator[Finding]:
    for item in _context_fields(resource, "seLinuxOptions"):
        if isinstance(item, Finding):
            yield item
            continue
        options_path, value = item
        kind = get(value, "type")
        if kind is UNKNOWN:
            yield unknown(f"{options_path}.type")
        elif kind not in (None, "") and kind not in SELINUX_TYPES:
            yield Finding(
                f"{options_path}.type is {kind!r}; use one of {', '.join(sorted(SELINUX_TYPES))}, or remove it"
            )
        for key in ("user", "role"):
            setting = get(value, key)
            if setting is UNKNOWN:
                yield unknown(f"{options_path}.{key}")
            elif setting not in (None, ""):
                yield Finding(f"{options_path}.{key} is {setting!r}; remove it (only type and level may be set)")


def check_sysctls(resource: Resource, options: Options) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    path = f"{pod_spec_path(resource)}.securityContext.sysctls"
    sysctls = get(pod, "securityContext", "sysctls")
    if sysctls is UNKNOWN:
        yield unknown(path)
        return
    for index, sysctl in enumerate(sysctls or []):
        name = get(sysctl, "name")
        if name is UNKNOWN:
            yield unknown(f"{path}[{index}].name")
        elif name not in SAFE_SYSCTLS:
            yield Finding(
                f"{path}[{index}].name is {name!r}, not one of the safe (pod-isolated) sysctls; remove it, or "
                "tune it on the node (docs/policy-reference.md lists the safe ones under pss-sysctls)"
            )


def _volume_problem(path: str, volume: Any) -> Finding | None:
    """A finding for a volume of a type Restricted does not allow; None for an allowed one."""
    if volume is UNKNOWN:
        return unknown(path)
    if not isinstance(volume, Mapping):
        return Finding(f"{path} is not a volume")
    sources = {key: value for key, value in volume.items() if key != "name" and value is not None}
    if VOLUME_SOURCES & sources.keys() or "hostPath" in sources:
        return None
    name = volume.get("name")
    if not sources:
        return Finding(f"volume {name!r} ({path}) sets no volume source; use an emptyDir, a configMap or a secret")
    kinds = sorted(sources)
    if any(sources[kind] is UNKNOWN for kind in kinds):
        return unknown(f"{path}.{kinds[0]}")
    return Finding(
        f"volume {name!r} ({path}) is of type {', '.join(kinds)}; use a persistentVolumeClaim (bound to a "
        "PersistentVolume of that type), csi, emptyDir, configMap, secret, projected, downwardAPI or ephemeral"
    )


def check_volume_types(resource: Resource, options: Options) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    path = f"{pod_spec_path(resource)}.volumes"
    volumes = get(pod, "volumes")
    if volumes is UNKNOWN:
        yield unknown(path)
        return
    for index, volume in enumerate(volumes or []):
        problem = _volume_problem(f"{path}[{index}]", volume)
        if problem is not None:
            yield problem


def _handler_hosts(path: str, handler: Any) -> Iterator[Finding]:
    for action in ("httpGet", "tcpSocket"):
        host = get(handler, action, "host")
        if host is UNKNOWN:
            yield unknown(f"{path}.{action}.host")
        elif host not in (None, ""):
            yield Finding(
                f"{path}.{action}.host is {host!r}: the kubelet would connect to that host from the node; "
                "remove it (the pod's own IP is the default)"
            )


def check_host_probes(resource: Resource, options: Options) -> Iterator[Finding]:
    for container in containers(resource, ephemeral=True):
        if isinstance(container, str):
            yield unknown(container)
            continue
        for probe in PROBES:
            yield from _handler_hosts(f"{container.path}.{probe}", get(container.spec, probe))
        for hook in HOOKS:
            yield from _handler_hosts(f"{container.path}.lifecycle.{hook}", get(container.spec, "lifecycle", hook))


RULES = [
    Rule(
        name="pss-host-process",
        why="A HostProcess container runs directly on the Windows node, with the node's privileges.",
        fix="Remove `securityContext.windowsOptions.hostProcess` (or set it to false) on the pod and every container.",
        description="No pod or container (init and ephemeral too) sets windowsOptions.hostProcess: true.",
        enforcement="mandatory",
        check=check_host_process,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: HostProcess",
    ),
    Rule(
        name="pss-host-probes",
        why="A probe or lifecycle hook with a host makes the kubelet connect from the node to any address.",
        fix="Remove `host` from httpGet and tcpSocket probes and lifecycle hooks; they then target the pod.",
        description="Probes and lifecycle hooks (httpGet, tcpSocket) set no host.",
        enforcement="mandatory",
        check=check_host_probes,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: Host Probes / Lifecycle Hooks",
    ),
    Rule(
        name="pss-apparmor",
        why="An Unconfined AppArmor profile lifts the runtime's default confinement of the container.",
        fix=(
            "Set `appArmorProfile.type` to RuntimeDefault or Localhost, or remove it; the annotation "
            "`container.apparmor.security.beta.kubernetes.io/<container>` may only be `runtime/default` or "
            "`localhost/<profile>`."
        ),
        description=(
            "AppArmor profiles (securityContext.appArmorProfile on the pod and containers, and the pod "
            "template's container.apparmor.security.beta.kubernetes.io annotations) are RuntimeDefault or Localhost."
        ),
        enforcement="mandatory",
        check=check_apparmor,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: AppArmor",
    ),
    Rule(
        name="pss-selinux",
        why="A custom SELinux user, role or type can give the container a label that reaches the host's files.",
        fix=(
            "Remove `seLinuxOptions.user` and `role`; leave `type` unset or use container_t, container_init_t, "
            "container_kvm_t or container_engine_t."
        ),
        description=(
            "seLinuxOptions on the pod and containers set no user or role, and a type only from the container "
            "types (container_t, container_init_t, container_kvm_t, container_engine_t)."
        ),
        enforcement="mandatory",
        check=check_selinux,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: SELinux",
    ),
    Rule(
        name="pss-sysctls",
        why="An unsafe sysctl is not isolated to the pod: it can disable kernel protections or affect every pod.",
        fix=(
            "Set only the safe sysctls (" + ", ".join(sorted(SAFE_SYSCTLS)) + ") in `securityContext.sysctls`; "
            "tune anything else on the node."
        ),
        description="The pod's securityContext.sysctls names only safe (namespaced, pod-isolated) sysctls.",
        enforcement="mandatory",
        check=check_sysctls,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: Sysctls",
    ),
    Rule(
        name="pss-volume-types",
        why=(
            "In-tree volume plugins (nfs, iscsi, gitRepo, cloud disks, ...) mount storage from the node "
            "outside the cluster's PersistentVolume controls; gitRepo can run git as root on the node."
        ),
        fix=(
            "Use configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret "
            "volumes; reach other storage through a PersistentVolume and a claim."
        ),
        description=(
            "Pods use only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected "
            "and secret volumes (hostPath is no-host-path's)."
        ),
        enforcement="mandatory",
        check=check_volume_types,
        types=WORKLOADS,
        standard="Pod Security Standards Restricted: Volume Types",
    ),
]
