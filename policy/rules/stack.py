"""Stack rules: they see every resource at once.

- pdb-coverage: replicated Deployments are covered by a budget that allows a disruption.
- namespace-default-deny: every namespace starts closed.
- service-selects-workload: no Service selector dangles (this catches a broken switch).
- blue-green-pair: active and preview never select the same colour; the active colour runs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from policy.rules.environment import ENVIRONMENT_SCHEMA, is_production
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get
from policy.rules.relations import build_index, default_deny_namespaces
from policy.rules.workloads import label_selector_matches, pod_labels, replicas

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
REPLICATED = frozenset({DEPLOYMENT, "kubernetes:apps/v1:StatefulSet"})  # what a budget protects
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
COLOR_LABEL = "azora.io/color"
ROLE_LABEL = "azora.io/service-role"


def _unknown_about(resource: Resource, what: str) -> Finding:
    return Finding(
        f"{what} is not known during preview; it is checked again on update", unknown=True, resource=resource
    )


def _allows_disruption(pdb: Resource, count: int) -> bool | None:
    max_unavailable = get(pdb.props, "spec", "maxUnavailable")
    min_available = get(pdb.props, "spec", "minAvailable")
    if UNKNOWN in (max_unavailable, min_available):
        return None
    for value, is_max in ((max_unavailable, True), (min_available, False)):
        if value is None:
            continue
        if isinstance(value, str) and value.endswith("%"):
            # Kubernetes rounds a percentage of pods up, for both fields.
            value = math.ceil(count * int(value[:-1]) / 100)
        value = int(value)
        return value >= 1 if is_max else count - value >= 1
    return False  # a budget with neither field allows no disruption


def check_pdb_coverage(resources: list[Resource], options: Options) -> Iterator[Finding]:
    budgets: dict[Any, list[Resource]] = defaultdict(list)
    for budget in (r for r in resources if r.type == PDB):
        budgets[budget.namespace].append(budget)
    for deployment in (r for r in resources if r.type in REPLICATED):
        count = replicas(deployment)
        if count is UNKNOWN:
            yield _unknown_about(deployment, "spec.replicas")
            continue
        if not isinstance(count, int) or count <= 1:
            continue
        labels = pod_labels(deployment)
        if labels is UNKNOWN:
            yield _unknown_about(deployment, "the pod template labels")
            continue
        covering = [
            pdb
            for pdb in budgets.get(deployment.namespace, [])
            if label_selector_matches(get(pdb.props, "spec", "selector"), labels or {})
        ]
        if not covering:
            yield Finding(
                f"{count} replicas but no PodDisruptionBudget selects its pods; add one with maxUnavailable: 1",
                resource=deployment,
            )
            continue
        verdicts = [_allows_disruption(pdb, count) for pdb in covering]
        if None in verdicts:
            yield _unknown_about(deployment, "its PodDisruptionBudget")
        elif not any(verdicts):
            yield Finding(
                f"the PodDisruptionBudget ({covering[0].display}) allows no disruption of its {count} replicas, "
                "so nodes cannot drain; allow at least one",
                resource=deployment,
            )


def check_default_deny(resources: list[Resource], options: Options) -> Iterator[Finding]:
    denied = default_deny_namespaces(resources)
    for namespace in (r for r in resources if r.type == NAMESPACE):
        name = namespace.object_name
        if name is UNKNOWN:
            yield _unknown_about(namespace, "metadata.name")
        elif name not in denied:
            yield Finding(
                "has no default-deny NetworkPolicy (podSelector {} with policyTypes [Ingress, Egress] and no rules, "
                "or one such policy per direction)",
                resource=namespace,
            )


def check_service_selectors(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    for service in (r for r in resources if r.type == SERVICE):
        selector = get(service.props, "spec", "selector")
        if selector is UNKNOWN:
            yield _unknown_about(service, "spec.selector")
            continue
        if not selector or get(service.props, "spec", "type") == "ExternalName":
            continue
        if not isinstance(selector, Mapping):
            yield Finding(f"spec.selector must be a mapping of labels, got {selector!r}", resource=service)
            continue
        if index.selected(service.namespace, {"matchLabels": selector}):
            continue
        if index.unknown_labels.get(service.namespace):
            yield _unknown_about(service, "the pod labels it could select")
            continue
        shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
        yield Finding(f"spec.selector ({shown}) selects no workload's pods in this stack", resource=service)


def check_blue_green(resources: list[Resource], options: Options) -> Iterator[Finding]:
    pairs: dict[tuple[Any, Any], dict[str, Resource]] = defaultdict(dict)
    for service in (r for r in resources if r.type == SERVICE):
        role = service.labels.get(ROLE_LABEL)
        if role in ("active", "preview"):
            pairs[(service.namespace, service.labels.get("app.kubernetes.io/name"))][role] = service
    index = build_index(resources)
    minimum = int(options.get("minReplicas", 2))
    for (namespace, app), roles in sorted(pairs.items(), key=lambda item: str(item[0])):
        active = roles.get("active")
        preview = roles.get("preview")
        if active is None:
            continue
        active_color = get(active.props, "spec", "selector", COLOR_LABEL)
        if active_color is UNKNOWN:
            yield _unknown_about(active, "spec.selector")
            continue
        if not active_color:
            yield Finding(f"the active Service of {app!r} does not select a colour ({COLOR_LABEL})", resource=active)
            continue
        if preview is not None:
            preview_color = get(preview.props, "spec", "selector", COLOR_LABEL)
            if preview_color is UNKNOWN:
                yield _unknown_about(preview, "spec.selector")
            elif preview_color == active_color:
                yield Finding(
                    f"active and preview Services of {app!r} both select {active_color!r}; the preview must "
                    "select the idle colour",
                    resource=preview,
                )
        selector = get(active.props, "spec", "selector") or {}
        if not isinstance(selector, Mapping):
            continue  # service-selects-workload reports the malformed selector
        targets = [w for w in index.selected(namespace, {"matchLabels": selector}) if w.type == DEPLOYMENT]
        for deployment in targets:
            count = replicas(deployment)
            if count is UNKNOWN:
                yield _unknown_about(deployment, "spec.replicas")
            elif isinstance(count, int) and count < 1:
                yield Finding(
                    f"the active colour {active_color!r} of {app!r} has 0 replicas, so the active Service has no "
                    "endpoints; scale it up before switching",
                    resource=deployment,
                )
            elif isinstance(count, int) and is_production(deployment, options) and count < minimum:
                yield Finding(
                    f"the active colour {active_color!r} of {app!r} runs {count} replicas; production needs at "
                    f"least {minimum}",
                    resource=deployment,
                )


RULES = [
    Rule(
        name="pdb-coverage",
        why="Without a budget a drain can evict every replica at once; one allowing none blocks drains.",
        fix="Add a PodDisruptionBudget selecting the pods with `maxUnavailable: 1`.",
        description="Every Deployment and StatefulSet with more than one replica has a PodDisruptionBudget allowing "
        "one disruption.",
        enforcement="mandatory",
        check=check_pdb_coverage,
        stack=True,
    ),
    Rule(
        name="namespace-default-deny",
        why="Without a default deny every pod can reach every other pod.",
        fix="Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Ingress, Egress]`, then explicit allows.",
        description="Every namespace has a default-deny NetworkPolicy closing Ingress and Egress for every pod.",
        enforcement="mandatory",
        check=check_default_deny,
        stack=True,
    ),
    Rule(
        name="service-selects-workload",
        why="A Service that selects nothing has no endpoints: a broken blue/green switch looks exactly like this.",
        fix="Fix the selector, or deploy the workload it should select.",
        description="Every Service selector matches the pods of a workload in the stack.",
        enforcement="mandatory",
        check=check_service_selectors,
        stack=True,
    ),
    Rule(
        name="blue-green-pair",
        why="Both Services on one colour means a switch moves nothing; an active colour at 0 is an outage.",
        fix="Point the preview Service at the idle colour and scale the active colour up before switching.",
        description="Active and preview Services select different colours and the active colour has replicas.",
        enforcement="mandatory",
        check=check_blue_green,
        stack=True,
        options={"minReplicas": 2, "environment": None},
        schema={"minReplicas": {"type": "integer", "minimum": 1}, "environment": ENVIRONMENT_SCHEMA},
    ),
]
