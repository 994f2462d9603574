"""NetworkPolicy specs for a namespace: default deny, DNS, and the traffic the config allows.

Pure functions from the config model to plain `NetworkPolicySpec` dicts, so the rules are easy
to read and to test without Pulumi. The Namespace component registers what these return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components import labels

Spec = dict[str, Any]

# Ports of the data stores when they run in the cluster, and their chart's name label.
DATA_STORE_PORTS = {"postgresql": 5432, "redis": 6379}
OTLP_PORTS = (4317, 4318)


@dataclass(frozen=True)
class ServiceTraffic:
    """What one service accepts and opens."""

    port: int
    exposed: bool = False
    talks_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrafficPlan:
    """Everything the app namespace allows besides DNS."""

    services: Mapping[str, ServiceTraffic]
    ingress_namespace: str
    monitoring_namespace: str | None = None
    in_cluster_stores: tuple[str, ...] = ()
    external_stores: tuple[str, ...] = ()
    sentry: bool = False
    extra: dict[str, Spec] = field(default_factory=dict)


def default_deny() -> Spec:
    """Select every pod and allow nothing: the baseline the other policies open up."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress() -> Spec:
    """Every pod may resolve names through the cluster DNS in kube-system."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        ],
    }


def _namespace(name: str) -> Spec:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _pods(name: str) -> Spec:
    return {"podSelector": {"matchLabels": {labels.NAME: name}}}


def service_traffic(name: str, plan: TrafficPlan) -> Spec:
    """Ingress and egress of one service: its callers, its peers and its data stores."""
    own = plan.services[name]
    ingress: list[Spec] = []
    callers = sorted(caller for caller, t in plan.services.items() if name in t.talks_to)
    if callers:
        ingress.append({"from": [_pods(c) for c in callers], "ports": [{"protocol": "TCP", "port": own.port}]})
    if own.exposed:
        ingress.append({"from": [_namespace(plan.ingress_namespace)], "ports": [{"protocol": "TCP", "port": own.port}]})
    if plan.monitoring_namespace:
        # Prometheus scrapes /metrics on the service port.
        ingress.append(
            {"from": [_namespace(plan.monitoring_namespace)], "ports": [{"protocol": "TCP", "port": own.port}]}
        )
    egress: list[Spec] = []
    for peer in own.talks_to:
        if peer in plan.services:
            port = plan.services[peer].port
            egress.append({"to": [_pods(peer)], "ports": [{"protocol": "TCP", "port": port}]})
        elif peer in plan.in_cluster_stores:
            egress.append({"to": [_pods(peer)], "ports": [{"protocol": "TCP", "port": DATA_STORE_PORTS[peer]}]})
        elif peer in plan.external_stores:
            # A managed endpoint outside the cluster: its address is unknown here, its port is not.
            egress.append({"ports": [{"protocol": "TCP", "port": DATA_STORE_PORTS[peer]}]})
    if plan.monitoring_namespace:
        egress.append(
            {
                "to": [_namespace(plan.monitoring_namespace)],
                "ports": [{"protocol": "TCP", "port": port} for port in OTLP_PORTS],
            }
        )
    if plan.sentry:
        egress.append({"ports": [{"protocol": "TCP", "port": 443}]})
    spec: Spec = {"podSelector": {"matchLabels": {labels.NAME: name}}, "policyTypes": ["Ingress", "Egress"]}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return spec


def data_store_traffic(store: str, plan: TrafficPlan) -> Spec:
    """An in-cluster data store accepts connections from the services that use it."""
    clients = sorted(name for name, t in plan.services.items() if store in t.talks_to)
    spec: Spec = {"podSelector": {"matchLabels": {labels.NAME: store}}, "policyTypes": ["Ingress"]}
    if clients:
        spec["ingress"] = [
            {"from": [_pods(c) for c in clients], "ports": [{"protocol": "TCP", "port": DATA_STORE_PORTS[store]}]}
        ]
    return spec


def app_policies(plan: TrafficPlan) -> dict[str, Spec]:
    """Every allow policy of the app namespace, by policy name (default deny is separate)."""
    policies = {f"{name}-traffic": service_traffic(name, plan) for name in plan.services}
    for store in plan.in_cluster_stores:
        policies[f"{store}-traffic"] = data_store_traffic(store, plan)
    policies.update(plan.extra)
    return policies


def platform_policies(accept_from_anywhere: bool = False) -> dict[str, Spec]:
    """A namespace of third-party charts: pods talk among themselves and may open any egress.

    `accept_from_anywhere` is for the ingress controller, which is the cluster's edge.
    """
    same_namespace: Spec = {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
        "egress": [{}],
    }
    policies = {"within-namespace": same_namespace}
    if accept_from_anywhere:
        policies["edge-ingress"] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}
    return policies
