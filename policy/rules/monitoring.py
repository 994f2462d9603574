"""Monitoring rules: what the Prometheus operator's objects point at must be there.

- servicemonitor-selects-service: a ServiceMonitor's selector and namespaceSelector match a
  Service, and each endpoint's `port` is a port of one of those Services (kube-linter
  `dangling-servicemonitor`, which reads only matchLabels and, without a namespaceSelector,
  every namespace; this rule reads matchExpressions too, and the operator's default, the
  ServiceMonitor's own namespace).

A ServiceMonitor is a custom resource: `unknown-kind` still lists it as unchecked, because no
rule knows the rest of its schema (TLS settings, relabelings, credentials). This rule reads
only `spec.selector`, `spec.namespaceSelector` and `spec.endpoints[].port`, as
`Rule.reads` records, and `azora policy check` says so in its summary.

Services are looked up through the set's index (`relations.build_index`): by namespace and by
label pair, never by scanning the set for each ServiceMonitor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.kinds import group_of, identity
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get
from policy.rules.relations import SERVICE, Index, build_index
from policy.rules.workloads import label_selector_matches

GROUP = "monitoring.coreos.com"
SERVICE_MONITOR = "ServiceMonitor"

# Services every cluster has, which a set never declares: the API server's own, which
# kube-prometheus-stack's apiserver ServiceMonitor selects.
CLUSTER_SERVICES = (
    Resource(
        SERVICE,
        {
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {"ports": [{"name": "https", "port": 443}]},
        },
        "kubernetes",
    ),
)


def _is_service_monitor(resource: Resource) -> bool:
    found = identity(resource)
    return found is not None and group_of(found[0]) == GROUP and found[1] == SERVICE_MONITOR


def _unknown(resource: Resource, what: str) -> Finding:
    return Finding(
        f"{what} is not known during preview; it is checked again on update", unknown=True, resource=resource
    )


def _shown(selector: Mapping[str, Any]) -> str:
    """`app.kubernetes.io/name=api` plus how many matchExpressions, the way messages quote a selector."""
    labels = get(selector, "matchLabels") or {}
    parts = [f"{key}={value}" for key, value in labels.items()] if isinstance(labels, Mapping) else []
    expressions = get(selector, "matchExpressions") or []
    if isinstance(expressions, list) and expressions:
        parts.append(f"{len(expressions)} matchExpressions")
    return ", ".join(parts) or "{} (every Service)"


def _namespaces(monitor: Resource, index: Index) -> list[Any] | None:
    """The namespaces the ServiceMonitor's namespaceSelector picks (`any`: every namespace with
    a Service in the set, and the cluster's own); None when part of it is not known yet."""
    selector = get(monitor.props, "spec", "namespaceSelector")
    if selector is UNKNOWN or get(selector, "any") is UNKNOWN or get(selector, "matchNames") is UNKNOWN:
        return None
    if get(selector, "any") is True:
        return sorted(set(index.services) | {"default"}, key=str)
    names = get(selector, "matchNames")
    if isinstance(names, list) and names:
        return None if UNKNOWN in names else list(names)
    return [monitor.namespace]  # the operator's default: the ServiceMonitor's own namespace


def _services(index: Index, namespaces: list[Any], selector: Any) -> list[Resource]:
    found = [service for namespace in namespaces for service in index.labelled_services(namespace, selector)]
    if "default" in namespaces:
        found += [s for s in CLUSTER_SERVICES if label_selector_matches(selector, s.labels)]
    return found


def _port_findings(monitor: Resource, services: list[Resource]) -> Iterator[Finding]:
    """An endpoint whose `port` no selected Service has scrapes nothing."""
    endpoints = get(monitor.props, "spec", "endpoints")
    if endpoints is UNKNOWN:
        yield _unknown(monitor, "spec.endpoints")
        return
    names: set[Any] = set()
    for service in services:
        ports = get(service.props, "spec", "ports")
        if ports is UNKNOWN:
            yield _unknown(monitor, f"the ports of {service.display}")
            return
        names |= {get(port, "name") for port in ports or []}
    for i, endpoint in enumerate(endpoints if isinstance(endpoints, list) else []):
        port = get(endpoint, "port")
        if port is UNKNOWN:
            yield _unknown(monitor, f"spec.endpoints[{i}].port")
        elif isinstance(port, str) and port and port not in names:
            has = ", ".join(sorted(str(n) for n in names if n)) or "no named port"
            yield Finding(
                f"spec.endpoints[{i}].port {port!r} is no port of {', '.join(s.display for s in services)} "
                f"(they have: {has}), so it scrapes nothing; name a port the Service declares",
                resource=monitor,
            )


def check_service_monitor(resources: list[Resource], options: Options) -> Iterator[Finding]:
    monitors = [r for r in resources if _is_service_monitor(r)]
    if not monitors:
        return
    index = build_index(resources)
    for monitor in monitors:
        selector = get(monitor.props, "spec", "selector")
        if selector is None:
            continue  # the CRD requires spec.selector: the API server rejects the object
        labels = get(selector, "matchLabels")
        if UNKNOWN in (selector, labels, get(selector, "matchExpressions")) or (
            isinstance(labels, Mapping) and UNKNOWN in labels.values()
        ):
            yield _unknown(monitor, "spec.selector")
            continue
        namespaces = _namespaces(monitor, index)
        if namespaces is None or UNKNOWN in namespaces:
            yield _unknown(monitor, "spec.namespaceSelector or metadata.namespace")
            continue
        services = _services(index, namespaces, selector)
        if services:
            yield from _port_findings(monitor, services)
            continue
        if any(index.unknown_service_labels.get(namespace) for namespace in namespaces):
            yield _unknown(monitor, "the labels of the Services it could select")
            continue
        anywhere = get(monitor.props, "spec", "namespaceSelector", "any") is True
        where = "any namespace" if anywhere else "namespace " + ", ".join(repr(n) for n in namespaces)
        owned = not anywhere and all(index.owns(namespace) for namespace in namespaces)
        outside = "" if owned else " (a Service there may come from outside the set: check it exists in the cluster)"
        yield Finding(
            f"spec.selector {_shown(selector)} matches no Service's labels in {where}{outside}, so "
            "Prometheus scrapes nothing and the metrics are lost silently; select the labels on the Service "
            "(metadata.labels, not its pod selector), or fix spec.namespaceSelector",
            resource=monitor,
            advisory=not owned,
        )


RULES = [
    Rule(
        name="servicemonitor-selects-service",
        why="A ServiceMonitor that selects no Service, or names a port the Service lacks, scrapes nothing: "
        "the service's metrics, and the alerts and release gates built on them, go missing without an error.",
        fix="Make spec.selector match the Service's own labels in the namespaces spec.namespaceSelector picks "
        "(its own namespace when unset), and name a Service port in spec.endpoints[].port.",
        description="A ServiceMonitor (monitoring.coreos.com) selects a Service in the set: its selector "
        "(matchLabels and matchExpressions) matches a Service's labels in a namespace its namespaceSelector "
        "picks (any, matchNames, or by default its own), and each endpoint's port names a port of one of them. "
        "Advisory: the Service may come from a chart, an operator or the cluster.",
        enforcement="advisory",
        check=check_service_monitor,
        stack=True,
        reads=frozenset({(GROUP, SERVICE_MONITOR)}),
    ),
]
