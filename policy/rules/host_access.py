"""Host access rules: no host namespaces, hostPath volumes or host ports (the Pod Security
Standards Baseline controls of those names; ephemeral containers' ports too)."""

from __future__ import annotations

from collections.abc import Iterator

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import WORKLOADS, containers, pod_spec, pod_spec_path


def check_host_namespaces(resource: Resource, options: Options) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        value = get(pod, key)
        if value is UNKNOWN:
            yield unknown(f"{pod_spec_path(resource)}.{key}")
        elif value is True:
            yield Finding(f"{pod_spec_path(resource)}.{key} is true; remove it")


def check_host_path(resource: Resource, options: Options) -> Iterator[Finding]:
    pod = pod_spec(resource)
    if pod is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    volumes = get(pod, "volumes")
    if volumes is UNKNOWN:
        yield unknown(f"{pod_spec_path(resource)}.volumes")
        return
    for index, volume in enumerate(volumes or []):
        host_path = get(volume, "hostPath")
        if host_path is UNKNOWN:
            yield unknown(f"{pod_spec_path(resource)}.volumes[{index}]")
        elif host_path is not None:
            yield Finding(
                f"volume {get(volume, 'name')!r} ({pod_spec_path(resource)}.volumes[{index}]) is a hostPath; "
                "use an emptyDir, a ConfigMap or a PersistentVolumeClaim"
            )


def check_host_port(resource: Resource, options: Options) -> Iterator[Finding]:
    for container in containers(resource, ephemeral=True):
        if isinstance(container, str):
            yield unknown(container)
            continue
        ports = get(container.spec, "ports")
        if ports is UNKNOWN:
            yield unknown(f"{container.path}.ports")
            continue
        for index, port in enumerate(ports or []):
            host_port = get(port, "hostPort")
            if host_port is UNKNOWN:
                yield unknown(f"{container.path}.ports[{index}].hostPort")
            elif host_port:
                yield Finding(
                    f"container {container.name!r} ({container.path}.ports[{index}]) binds hostPort {host_port}; "
                    "remove hostPort and expose it through a Service"
                )


RULES = [
    Rule(
        name="no-host-namespaces",
        why="Sharing the node's network, PID or IPC namespace breaks isolation between pods and the node.",
        fix="Remove `hostNetwork`, `hostPID`, `hostIPC`.",
        description="Pods do not share the node's network, PID or IPC namespace.",
        enforcement="mandatory",
        check=check_host_namespaces,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: Host Namespaces",
    ),
    Rule(
        name="no-host-path",
        why="A hostPath volume gives the pod the node's files.",
        fix="Use emptyDir, ConfigMap, Secret or a PersistentVolumeClaim.",
        description="Pods mount no hostPath volumes.",
        enforcement="mandatory",
        check=check_host_path,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: HostPath Volumes",
    ),
    Rule(
        name="no-host-port",
        why="Host ports bypass Services and NetworkPolicies and limit scheduling.",
        fix="Remove `hostPort`; expose through a Service.",
        description="Containers bind no host ports.",
        enforcement="mandatory",
        check=check_host_port,
        types=WORKLOADS,
        standard="Pod Security Standards Baseline: Host Ports",
    ),
]
