"""Relation rules: one object names another, and the other must exist and fit.

- pdb-allows-eviction: a PodDisruptionBudget leaves at least one pod of what it selects evictable.
- pdb-below-hpa-min: a budget's minAvailable stays below the minReplicas of the HPA scaling its pods.
- hpa-target-exists: an HPA's scaleTargetRef names a workload in the set.
- ingress-backend-exists: each Ingress backend names a Service in the set, and a port it has.
- network-policy-selects-pods: a NetworkPolicy's podSelector selects some pod template.
- workload-namespace-default-deny: workloads in a namespace the set does not declare have a
  default-deny NetworkPolicy beside them (advisory).
- service-account-exists: a pod template's serviceAccountName names a ServiceAccount in the set.

What a rule can know about an object outside the set: nothing. A set that declares the
Namespace object, and has no Helm release or YAML group (whose objects it cannot see) in it,
owns that namespace, so a missing object there is a mistake (mandatory); otherwise the object
may come from another stack, a chart or the cluster, so a missing object is an advisory finding
that names it, never silence and never a failure. Everything is looked up through indexes
built once per run (by kind/namespace/name, by namespace, by label pair), not by scanning
every resource for every resource.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get
from policy.rules.workloads import WORKLOADS, label_selector_matches, pod_labels, pod_spec, replicas

PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA_KIND = "HorizontalPodAutoscaler"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
POD = "kubernetes:core/v1:Pod"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# Resources that create objects the set does not show (a chart's Deployments, a YAML file's).
OPAQUE_PREFIXES = ("kubernetes:helm.sh/", "kubernetes:yaml")
ALL = object()  # an opaque producer whose namespace is not known: it may fill any namespace


def _about(resource: Resource, message: str, *, advisory: bool = False) -> Finding:
    return Finding(message, advisory=advisory, resource=resource)


def _unknown(resource: Resource, what: str) -> Finding:
    return Finding(
        f"{what} is not known during preview; it is checked again on update", unknown=True, resource=resource
    )


@dataclass
class Index:
    """The set, indexed once: by (kind, namespace, name), workloads by namespace and by label pair."""

    by_name: dict[tuple[str, Any, Any], Resource] = field(default_factory=dict)
    namespaces: set[Any] = field(default_factory=set)
    workloads: dict[Any, list[tuple[Resource, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_label: dict[tuple[Any, str, Any], list[int]] = field(default_factory=lambda: defaultdict(list))
    unknown_labels: dict[Any, list[Resource]] = field(default_factory=lambda: defaultdict(list))
    # Services by namespace with their own labels (metadata.labels, what a ServiceMonitor selects).
    services: dict[Any, list[tuple[Resource, Any]]] = field(default_factory=lambda: defaultdict(list))
    service_labels: dict[tuple[Any, str, Any], list[int]] = field(default_factory=lambda: defaultdict(list))
    unknown_service_labels: dict[Any, list[Resource]] = field(default_factory=lambda: defaultdict(list))

    def find(self, kind: str, namespace: Any, name: Any) -> Resource | None:
        return self.by_name.get((kind, namespace, name))

    opaque: set[Any] = field(default_factory=set)  # namespaces a Helm release or YAML group fills

    def owns(self, namespace: Any) -> bool:
        """The set declares this namespace and nothing opaque (a Helm release, a YAML group)
        creates objects in it, so the set is the whole truth about what lives there."""
        return namespace in self.namespaces and namespace not in self.opaque and ALL not in self.opaque

    def selected(self, namespace: Any, selector: Any) -> list[Resource]:
        """Workloads in `namespace` whose pod labels a LabelSelector matches."""
        return _matching(self.workloads.get(namespace, []), self.by_label, namespace, selector)

    def labelled_services(self, namespace: Any, selector: Any) -> list[Resource]:
        """Services in `namespace` whose own labels a LabelSelector matches."""
        return _matching(self.services.get(namespace, []), self.service_labels, namespace, selector)


def _matching(
    items: list[tuple[Resource, Any]], by_label: dict[tuple[Any, str, Any], list[int]], namespace: Any, selector: Any
) -> list[Resource]:
    """The objects of one namespace whose labels a LabelSelector matches: matchLabels narrowed
    through the label index, matchExpressions checked on what is left."""
    match_labels = get(selector, "matchLabels") or {}
    if isinstance(match_labels, Mapping) and match_labels:
        # The rarest label pair bounds the candidates; the full match below checks the rest.
        buckets = [by_label.get((namespace, key, value), []) for key, value in match_labels.items()]
        candidates = [items[i] for i in min(buckets, key=len)]
    else:
        candidates = items
    return [
        resource
        for resource, labels in candidates
        if isinstance(labels, Mapping) and label_selector_matches(selector, labels)
    ]


# The index of the last set asked about, with that set: every stack rule of one evaluation gets
# the same list, so it is built once. Holding the list keeps its identity from being reused.
_last_index: tuple[list[Resource], int, Index] | None = None


def build_index(resources: list[Resource]) -> Index:
    global _last_index
    if _last_index is not None and _last_index[0] is resources and _last_index[1] == len(resources):
        return _last_index[2]
    index = _index(resources)
    _last_index = (resources, len(resources), index)
    return index


def _index(resources: Iterable[Resource]) -> Index:
    index = Index()
    for resource in resources:
        index.by_name[(resource.kind, resource.namespace, resource.object_name)] = resource
        if resource.type == NAMESPACE:
            index.namespaces.add(resource.object_name)
        if resource.type.startswith(OPAQUE_PREFIXES):
            target = get(resource.props, "namespace") or resource.namespace
            index.opaque.add(target if isinstance(target, str) else ALL)
        if resource.type in WORKLOADS:
            _add_labelled(index.workloads, index.by_label, index.unknown_labels, resource, pod_labels(resource))
        if resource.type == SERVICE:
            labels = get(resource.props, "metadata", "labels")
            services = (index.services, index.service_labels, index.unknown_service_labels)
            _add_labelled(*services, resource, {} if labels is None else labels)
    return index


def _add_labelled(
    items: dict[Any, list[tuple[Resource, Any]]],
    by_label: dict[tuple[Any, str, Any], list[int]],
    unknown_labels: dict[Any, list[Resource]],
    resource: Resource,
    labels: Any,
) -> None:
    """Index `resource` with `labels` in its namespace: in `items`, by label pair, or as unknown."""
    namespace = resource.namespace
    if labels is UNKNOWN:
        unknown_labels[namespace].append(resource)
        return
    for key, value in labels.items() if isinstance(labels, Mapping) else ():
        by_label[(namespace, key, value)].append(len(items[namespace]))
    items[namespace].append((resource, labels))


def _missing(index: Index, subject: Resource, namespace: Any, message: str) -> Finding:
    if index.owns(namespace):
        return _about(subject, message)
    return _about(
        subject,
        f"{message}; objects in namespace {namespace!r} may come from outside the set (it is not declared, "
        "or a Helm release or YAML group fills it) - check it exists in the cluster",
        advisory=True,
    )


def _count(value: Any, total: int) -> int:
    """A budget number or percentage of `total` pods (Kubernetes rounds percentages up)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * int(value[:-1]) / 100)
    return int(value)


def _selected_replicas(index: Index, pdb: Resource) -> tuple[list[Resource], int | None]:
    workloads = index.selected(pdb.namespace, get(pdb.props, "spec", "selector"))
    total = 0
    for workload in workloads:
        count = 1 if workload.type == POD else replicas(workload)
        if count is UNKNOWN:
            return workloads, None
        if isinstance(count, int):
            total += count
    return workloads, total


def check_pdb_allows_eviction(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    for pdb in (r for r in resources if r.type == PDB):
        workloads, total = _selected_replicas(index, pdb)
        if any(w.type == DEPLOYMENT and isinstance(replicas(w), int) and replicas(w) > 1 for w in workloads):
            continue  # pdb-coverage reports a budget that blocks a replicated Deployment, on the Deployment
        max_unavailable = get(pdb.props, "spec", "maxUnavailable")
        min_available = get(pdb.props, "spec", "minAvailable")
        if UNKNOWN in (max_unavailable, min_available):
            yield _unknown(pdb, "spec.maxUnavailable/minAvailable")
            continue
        if max_unavailable is not None:
            if str(max_unavailable) in ("0", "0%"):
                yield _about(pdb, f"maxUnavailable: {max_unavailable} blocks every eviction; set maxUnavailable: 1")
            continue
        if min_available is None:
            continue
        if str(min_available) == "100%":
            yield _about(pdb, "minAvailable: 100% blocks every eviction; use maxUnavailable: 1")
            continue
        if total is None:
            yield _unknown(pdb, "the replicas of the workloads it selects")
        elif not workloads:
            yield _missing(
                index, pdb, pdb.namespace, "selects no workload in this set, so whether it blocks evictions is unknown"
            )
        elif total > 0 and _count(min_available, total) >= total:
            names = ", ".join(w.display for w in workloads)
            yield _about(
                pdb,
                f"minAvailable: {min_available} with {total} replicas of {names} blocks every eviction; "
                "use maxUnavailable: 1",
            )


def _hpas_by_target(resources: list[Resource]) -> dict[tuple[Any, Any, Any], list[Resource]]:
    targets: dict[tuple[Any, Any, Any], list[Resource]] = defaultdict(list)
    for hpa in (r for r in resources if r.kind == HPA_KIND):
        ref = get(hpa.props, "spec", "scaleTargetRef") or {}
        targets[(get(ref, "kind"), hpa.namespace, get(ref, "name"))].append(hpa)
    return targets


def check_pdb_below_hpa_min(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    hpas = _hpas_by_target(resources)
    for pdb in (r for r in resources if r.type == PDB):
        min_available = get(pdb.props, "spec", "minAvailable")
        if min_available is None or min_available is UNKNOWN:
            continue
        for workload in index.selected(pdb.namespace, get(pdb.props, "spec", "selector")):
            for hpa in hpas.get((workload.kind, workload.namespace, workload.object_name), []):
                minimum = get(hpa.props, "spec", "minReplicas")
                minimum = 1 if minimum is None else minimum
                if minimum is UNKNOWN:
                    yield _unknown(pdb, f"spec.minReplicas of {hpa.display}")
                elif isinstance(minimum, int) and _count(min_available, minimum) >= minimum:
                    yield _about(
                        pdb,
                        f"minAvailable: {min_available} is not below minReplicas {minimum} of {hpa.display} "
                        f"(scaling {workload.display}), so at its minimum no pod can be evicted; "
                        f"lower minAvailable below {minimum} or use maxUnavailable: 1",
                    )


def check_hpa_target(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    for hpa in (r for r in resources if r.kind == HPA_KIND):
        ref = get(hpa.props, "spec", "scaleTargetRef")
        kind, name = get(ref, "kind"), get(ref, "name")
        if UNKNOWN in (ref, kind, name):
            yield _unknown(hpa, "spec.scaleTargetRef")
        elif kind is None or name is None:
            continue  # a malformed HPA: the API server rejects it, nothing here to look up
        elif index.find(kind, hpa.namespace, name) is None:
            yield _missing(
                index, hpa, hpa.namespace, f"spec.scaleTargetRef {kind}/{hpa.namespace}/{name} is not in the set"
            )


def _backends(ingress: Resource) -> Iterator[tuple[str, Any]]:
    default = get(ingress.props, "spec", "defaultBackend")
    if default is not None:
        yield "spec.defaultBackend", default
    for r, rule in enumerate(get(ingress.props, "spec", "rules") or []):
        for p, path in enumerate(get(rule, "http", "paths") or []):
            yield f"spec.rules[{r}].http.paths[{p}].backend", get(path, "backend")


def check_ingress_backend(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    for ingress in (r for r in resources if r.type == INGRESS):
        for where, backend in _backends(ingress):
            name, port = get(backend, "service", "name"), get(backend, "service", "port")
            if UNKNOWN in (backend, name, port):
                yield _unknown(ingress, where)
                continue
            if name is None:
                continue  # a resource backend, not a Service
            service = index.find("Service", ingress.namespace, name)
            shown = f"Service/{ingress.namespace}/{name}"
            if service is None:
                yield _missing(index, ingress, ingress.namespace, f"{where} names {shown}, which is not in the set")
                continue
            ports = get(service.props, "spec", "ports")
            if ports is UNKNOWN:
                yield _unknown(ingress, f"the ports of {shown}")
                continue
            number, port_name = get(port, "number"), get(port, "name")
            known = {get(p, "port") for p in ports or []} | {get(p, "name") for p in ports or []}
            wanted = number if number is not None else port_name
            if wanted not in known:
                yield _about(ingress, f"{where} names port {wanted!r} of {shown}, which has no such port")


def check_network_policy_selects(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    for policy in (r for r in resources if r.type == NETWORK_POLICY):
        selector = get(policy.props, "spec", "podSelector")
        if selector is UNKNOWN:
            yield _unknown(policy, "spec.podSelector")
            continue
        if not (get(selector, "matchLabels") or get(selector, "matchExpressions")):
            continue  # {} selects every pod of the namespace
        if index.selected(policy.namespace, selector):
            continue
        if index.unknown_labels.get(policy.namespace):
            yield _unknown(policy, "the pod labels it could select")
            continue
        yield _missing(
            index, policy, policy.namespace, "spec.podSelector selects no pod template of this namespace in the set"
        )


def _denied_directions(policy: Resource) -> set[str]:
    """The directions (Ingress, Egress) a NetworkPolicy closes for every pod of its namespace:
    it selects all pods (`podSelector: {}`), lists the direction in policyTypes, and has no
    rule that opens it again."""
    spec = get(policy.props, "spec")
    if not isinstance(spec, Mapping):
        return set()
    selector = get(spec, "podSelector")
    if not isinstance(selector, Mapping) or selector.get("matchLabels") or selector.get("matchExpressions"):
        return set()
    types = get(spec, "policyTypes")
    return {d for d in ("Ingress", "Egress") if isinstance(types, list) and d in types and not get(spec, d.lower())}


def default_deny_namespaces(resources: list[Resource]) -> set[Any]:
    """Namespaces whose NetworkPolicies close both directions for every pod: one policy with
    `policyTypes: [Ingress, Egress]` and no rules, or one policy a direction. A namespace closed
    only to Ingress still lets every pod send anywhere."""
    closed: dict[Any, set[str]] = defaultdict(set)
    for policy in (r for r in resources if r.type == NETWORK_POLICY):
        closed[policy.namespace] |= _denied_directions(policy)
    return {namespace for namespace, directions in closed.items() if directions == {"Ingress", "Egress"}}


def check_workload_namespace_default_deny(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    denied = default_deny_namespaces(resources)
    for namespace, pods in index.workloads.items():
        # A declared namespace is namespace-default-deny's to check (stack.py).
        if index.owns(namespace) or namespace in denied or not pods:
            continue
        first = pods[0][0]
        yield _about(
            first,
            f"namespace {namespace!r} (not declared in this set) has {len(pods)} workload(s) but no default-deny "
            "NetworkPolicy in the set; add one (podSelector {}, policyTypes [Ingress, Egress]) or check the "
            "namespace has one",
            advisory=True,
        )


def check_service_account(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index = build_index(resources)
    for workload in (r for r in resources if r.type in WORKLOADS):
        spec = pod_spec(workload)
        name = get(spec, "serviceAccountName")
        if spec is UNKNOWN or name is UNKNOWN:
            yield _unknown(workload, "serviceAccountName")
        elif name and name != "default" and index.find("ServiceAccount", workload.namespace, name) is None:
            yield _missing(
                index,
                workload,
                workload.namespace,
                f"serviceAccountName names ServiceAccount/{workload.namespace}/{name}, which is not in the set",
            )


OUTSIDE = (
    " A missing object is mandatory in a namespace the set declares and fills itself; advisory where a"
    " namespace is not declared or a Helm release or YAML group fills it (the object may come from there)."
)

RULES = [
    Rule(
        name="pdb-allows-eviction",
        why="A budget that allows no eviction blocks every node drain, even of a single-replica app.",
        fix="Use `maxUnavailable: 1`, or a minAvailable below the replicas it selects.",
        description="A PodDisruptionBudget allows at least one eviction: maxUnavailable above 0, minAvailable "
        "below the replicas of the workloads it selects (100% always blocks; workloads at 0 replicas, such as an "
        "idle blue/green colour, have nothing to evict)." + OUTSIDE,
        enforcement="mandatory",
        check=check_pdb_allows_eviction,
        stack=True,
    ),
    Rule(
        name="pdb-below-hpa-min",
        why="When the HPA scales down to minReplicas, a budget at or above it blocks every drain.",
        fix="Lower minAvailable below the HPA's minReplicas, or use `maxUnavailable: 1`.",
        description="A PodDisruptionBudget's minAvailable is below the minReplicas of the HPA scaling the "
        "workload it selects.",
        enforcement="mandatory",
        check=check_pdb_below_hpa_min,
        stack=True,
    ),
    Rule(
        name="hpa-target-exists",
        why="An HPA whose target does not exist scales nothing and hides that behind a green resource.",
        fix="Point scaleTargetRef at the workload's kind and name in the HPA's namespace.",
        description="An HPA's scaleTargetRef (kind and name, in its namespace) is in the set." + OUTSIDE,
        enforcement="mandatory",
        check=check_hpa_target,
        stack=True,
    ),
    Rule(
        name="ingress-backend-exists",
        why="A backend Service or port that does not exist answers 503 for that path.",
        fix="Name an existing Service and one of its ports (by number or name).",
        description="Every Ingress backend (default and each rule path) names a Service in the set and a port "
        "that Service has (by number or name)." + OUTSIDE,
        enforcement="mandatory",
        check=check_ingress_backend,
        stack=True,
    ),
    Rule(
        name="network-policy-selects-pods",
        why="A policy that selects no pod protects nothing, usually through a label typo. Advisory: it opens "
        "nothing either, and the pods it means are often a chart's (a skipped chart, a Helm release) that the set "
        "cannot see even in a namespace it declares.",
        fix="Fix spec.podSelector to match the pod template labels (podSelector {} selects all).",
        description="A NetworkPolicy's podSelector (matchLabels and matchExpressions) selects a pod template in "
        "its namespace (advisory: the pods may come from a chart outside the set).",
        enforcement="advisory",
        check=check_network_policy_selects,
        stack=True,
    ),
    Rule(
        name="workload-namespace-default-deny",
        why="Pods in a namespace without a default deny are reachable by every pod; the set cannot see "
        "policies of a namespace it does not declare.",
        fix="Add a default-deny NetworkPolicy to the set, or declare the namespace.",
        description="Workloads in a namespace the set does not declare have a default-deny NetworkPolicy "
        "(podSelector {}, policyTypes Ingress) in the set. Always advisory: the policy may exist in the cluster. "
        "Declared namespaces are checked by namespace-default-deny.",
        enforcement="advisory",
        check=check_workload_namespace_default_deny,
        stack=True,
    ),
    Rule(
        name="service-account-exists",
        why="A pod naming a missing ServiceAccount is never created (the ReplicaSet reports forbidden).",
        fix="Add the ServiceAccount to the set, or fix serviceAccountName.",
        description="A pod template's serviceAccountName (other than default) names a ServiceAccount in the "
        "set." + OUTSIDE,
        enforcement="mandatory",
        check=check_service_account,
        stack=True,
    ),
]
