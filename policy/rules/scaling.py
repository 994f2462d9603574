"""Scaling rules: production replica floors, spread for replicated pods, HPA sanity."""

from __future__ import annotations

from collections.abc import Iterator

from policy.rules.environment import ENVIRONMENT_SCHEMA, is_production
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import pod_spec, replicas

COLOR_LABEL = "azora.io/color"
SCALABLE = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:ReplicaSet"}
)
HPA = frozenset(
    {"kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler"}
)


def check_min_replicas(resource: Resource, options: Options) -> Iterator[Finding]:
    if not is_production(resource, options):
        return
    if resource.labels.get(COLOR_LABEL):
        # A blue/green colour may idle at its preview count; the active colour's floor is
        # checked by the stack rule blue-green-pair, which knows which colour is active.
        return
    count = replicas(resource)
    minimum = int(options.get("minReplicas", 2))
    if count is UNKNOWN:
        yield unknown("spec.replicas")
    elif isinstance(count, int) and count < minimum:
        yield Finding(f"spec.replicas is {count}; production needs at least {minimum}")


def check_spread(resource: Resource, options: Options) -> Iterator[Finding]:
    count = replicas(resource)
    if count is UNKNOWN:
        yield unknown("spec.replicas")
        return
    if not isinstance(count, int) or count <= 1:
        return
    spec = pod_spec(resource)
    if spec is UNKNOWN:
        yield unknown("pod spec")
        return
    spread = get(spec, "topologySpreadConstraints")
    anti = get(spec, "affinity", "podAntiAffinity")
    if spread is UNKNOWN or anti is UNKNOWN:
        yield unknown("topologySpreadConstraints")
    elif not spread and not anti:
        yield Finding(f"{count} replicas without topologySpreadConstraints or podAntiAffinity; spread them over nodes")


def check_hpa(resource: Resource, options: Options) -> Iterator[Finding]:
    minimum = get(resource.props, "spec", "minReplicas")
    maximum = get(resource.props, "spec", "maxReplicas")
    if minimum is UNKNOWN or maximum is UNKNOWN:
        yield unknown("spec.minReplicas")
        return
    minimum = 1 if minimum is None else minimum
    if isinstance(maximum, int) and minimum > maximum:
        yield Finding(f"minReplicas {minimum} is above maxReplicas {maximum}")
    if is_production(resource, options) and minimum < 2:
        yield Finding(f"minReplicas is {minimum}; production autoscalers keep at least 2")


RULES = [
    Rule(
        name="production-min-replicas",
        why="One replica means every node drain or crash is an outage.",
        fix="Set replicas to at least `minReplicas` (option, default 2).",
        description="Production Deployments and StatefulSets run at least minReplicas (default 2).",
        enforcement="mandatory",
        check=check_min_replicas,
        types=SCALABLE,
        options={"minReplicas": 2, "environment": None},
        schema={"minReplicas": {"type": "integer", "minimum": 1}, "environment": ENVIRONMENT_SCHEMA},
    ),
    Rule(
        name="spread-replicas",
        why="Replicas on one node fail together.",
        fix="Add `topologySpreadConstraints` on `kubernetes.io/hostname` or pod anti-affinity.",
        description="Workloads with more than one replica spread over nodes.",
        enforcement="advisory",
        check=check_spread,
        types=SCALABLE,
    ),
    Rule(
        name="hpa-sanity",
        why="An autoscaler with min above max, or a production floor of 1, defeats its purpose.",
        fix="Set `minReplicas <= maxReplicas`, and at least 2 in production.",
        description="Autoscalers have minReplicas <= maxReplicas, and at least 2 in production.",
        enforcement="advisory",
        check=check_hpa,
        types=HPA,
        options={"environment": None},
        schema={"environment": ENVIRONMENT_SCHEMA},
    ),
]
