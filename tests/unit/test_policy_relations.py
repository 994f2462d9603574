"""The relation rules (`policy/rules/relations.py`): one object names another, which must exist
and fit. Every rule has a failing set with its exact violation (the message names both objects)
and close look-alikes that report nothing; a partner outside the set is an advisory, mandatory
only in a namespace the set declares and fills itself. The indexes are tested directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from policy.rules.model import Resource, Violation
from policy.rules.relations import build_index
from tests.unit.policy_support import (
    NS,
    POD,
    TOKENS,
    blue_green,
    default_deny,
    deployment,
    edited,
    hpa,
    ingress,
    namespace,
    pdb,
    run,
    service,
    statefulset,
)
from tests.unit.test_policy_adapters import Reports, _policy, _stack_args, _urn

RELATION_RULES = {
    "pdb-allows-eviction",
    "pdb-below-hpa-min",
    "hpa-target-exists",
    "ingress-backend-exists",
    "network-policy-selects-pods",
    "workload-namespace-default-deny",
    "service-account-exists",
}
OUTSIDE = (
    "; objects in namespace 'shop' may come from outside the set (it is not declared, or a Helm release or YAML "
    "group fills it) - check it exists in the cluster"
)


def owned(*resources: Resource) -> list[Resource]:
    """`resources` in a namespace the set declares, with its default deny."""
    return [namespace(), default_deny(), *resources]


def relations(resources: list[Resource]) -> list[tuple[str, str, str, str]]:
    found: list[Violation] = run(resources, relations=True)
    return [(v.policy, v.enforcement, v.resource, v.message) for v in found if v.policy in RELATION_RULES]


def network_policy(selector: dict[str, Any], name: str = "api-traffic") -> Resource:
    spec = {"podSelector": selector, "policyTypes": ["Ingress"]}
    return Resource(TOKENS["NetworkPolicy"], {"metadata": {"name": name, "namespace": NS}, "spec": spec}, name)


def named_port_service() -> Resource:
    return edited(service(), (("spec", "ports"), [{"name": "http", "port": 80, "targetPort": "http"}]))


def ingress_to(port: dict[str, Any], name: str = "api") -> Resource:
    backend = {"service": {"name": name, "port": port}}
    return edited(ingress(), (("spec", "rules", 0, "http", "paths", 0, "backend"), backend))


def with_account(resource: Resource, account: str) -> Resource:
    return edited(resource, ((*POD, "serviceAccountName"), account))


def service_account(name: str) -> Resource:
    return Resource("kubernetes:core/v1:ServiceAccount", {"metadata": {"name": name, "namespace": NS}}, name)


@dataclass(frozen=True)
class RelationCase:
    rule: str
    id: str
    resources: Callable[[], list[Resource]]
    expected: tuple[str, str, str]  # enforcement, resource, exact message

    @property
    def param(self) -> Any:
        return pytest.param(self, id=f"{self.rule}:{self.id}")


CASES = [
    RelationCase(
        "pdb-allows-eviction",
        "max-unavailable-0",
        lambda: owned(deployment(), pdb("api", maxUnavailable=0)),
        ("mandatory", "PodDisruptionBudget/shop/api", "maxUnavailable: 0 blocks every eviction; set maxUnavailable: 1"),
    ),
    RelationCase(
        "pdb-allows-eviction",
        "max-unavailable-0-percent",
        lambda: owned(deployment(), pdb("api", maxUnavailable="0%")),
        (
            "mandatory",
            "PodDisruptionBudget/shop/api",
            "maxUnavailable: 0% blocks every eviction; set maxUnavailable: 1",
        ),
    ),
    RelationCase(
        "pdb-allows-eviction",
        "min-available-equals-one-replica",
        lambda: owned(deployment(), pdb("api", minAvailable=1)),
        (
            "mandatory",
            "PodDisruptionBudget/shop/api",
            "minAvailable: 1 with 1 replicas of Deployment/shop/api blocks every eviction; use maxUnavailable: 1",
        ),
    ),
    RelationCase(
        "pdb-allows-eviction",
        "min-available-above-statefulset",
        lambda: owned(statefulset("db", replicas=2), pdb("db", minAvailable=3)),
        (
            "mandatory",
            "PodDisruptionBudget/shop/db",
            "minAvailable: 3 with 2 replicas of StatefulSet/shop/db blocks every eviction; use maxUnavailable: 1",
        ),
    ),
    RelationCase(
        "pdb-allows-eviction",
        "min-available-100-percent",
        lambda: owned(deployment(), pdb("api", minAvailable="100%")),
        (
            "mandatory",
            "PodDisruptionBudget/shop/api",
            "minAvailable: 100% blocks every eviction; use maxUnavailable: 1",
        ),
    ),
    RelationCase(
        "pdb-allows-eviction",
        "selects-nothing-outside",
        lambda: [pdb("ghost", minAvailable=1)],
        (
            "advisory",
            "PodDisruptionBudget/shop/ghost",
            "selects no workload in this set, so whether it blocks evictions is unknown" + OUTSIDE,
        ),
    ),
    RelationCase(
        "pdb-below-hpa-min",
        "min-available-equals-min-replicas",
        lambda: owned(deployment(replicas=3), pdb("api", minAvailable=2), hpa("api", min_replicas=2)),
        (
            "mandatory",
            "PodDisruptionBudget/shop/api",
            "minAvailable: 2 is not below minReplicas 2 of HorizontalPodAutoscaler/shop/api (scaling "
            "Deployment/shop/api), so at its minimum no pod can be evicted; lower minAvailable below 2 or use "
            "maxUnavailable: 1",
        ),
    ),
    RelationCase(
        "hpa-target-exists",
        "missing-in-declared-namespace",
        lambda: owned(hpa("ghost")),
        (
            "mandatory",
            "HorizontalPodAutoscaler/shop/ghost",
            "spec.scaleTargetRef Deployment/shop/ghost is not in the set",
        ),
    ),
    RelationCase(
        "hpa-target-exists",
        "missing-outside",
        lambda: [hpa("ghost")],
        (
            "advisory",
            "HorizontalPodAutoscaler/shop/ghost",
            "spec.scaleTargetRef Deployment/shop/ghost is not in the set" + OUTSIDE,
        ),
    ),
    RelationCase(
        "ingress-backend-exists",
        "service-missing",
        lambda: owned(deployment(), ingress_to({"number": 80}, name="ghost")),
        (
            "mandatory",
            "Ingress/shop/api",
            "spec.rules[0].http.paths[0].backend names Service/shop/ghost, which is not in the set",
        ),
    ),
    RelationCase(
        "ingress-backend-exists",
        "port-name-missing",
        lambda: owned(deployment(), named_port_service(), ingress_to({"name": "https"})),
        (
            "mandatory",
            "Ingress/shop/api",
            "spec.rules[0].http.paths[0].backend names port 'https' of Service/shop/api, which has no such port",
        ),
    ),
    RelationCase(
        "ingress-backend-exists",
        "default-backend-port-number-missing",
        lambda: owned(
            deployment(),
            service(),
            edited(ingress(), (("spec", "defaultBackend"), {"service": {"name": "api", "port": {"number": 8080}}})),
        ),
        (
            "mandatory",
            "Ingress/shop/api",
            "spec.defaultBackend names port 8080 of Service/shop/api, which has no such port",
        ),
    ),
    RelationCase(
        "network-policy-selects-pods",
        "label-typo",
        lambda: owned(deployment(), network_policy({"matchLabels": {"app.kubernetes.io/name": "apii"}})),
        (
            "advisory",
            "NetworkPolicy/shop/api-traffic",
            "spec.podSelector selects no pod template of this namespace in the set",
        ),
    ),
    RelationCase(
        "workload-namespace-default-deny",
        "undeclared-namespace",
        lambda: [deployment()],
        (
            "advisory",
            "Deployment/shop/api",
            "namespace 'shop' (not declared in this set) has 1 workload(s) but no default-deny NetworkPolicy in "
            "the set; add one (podSelector {}, policyTypes [Ingress, Egress]) or check the namespace has one",
        ),
    ),
    RelationCase(
        "service-account-exists",
        "missing-in-declared-namespace",
        lambda: owned(with_account(deployment(), "api-runner")),
        (
            "mandatory",
            "Deployment/shop/api",
            "serviceAccountName names ServiceAccount/shop/api-runner, which is not in the set",
        ),
    ),
    RelationCase(
        "service-account-exists",
        "missing-outside",
        lambda: [default_deny(), with_account(deployment(), "api-runner")],
        (
            "advisory",
            "Deployment/shop/api",
            "serviceAccountName names ServiceAccount/shop/api-runner, which is not in the set" + OUTSIDE,
        ),
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_relation_failing(case: RelationCase) -> None:
    assert relations(case.resources()) == [(case.rule, *case.expected)]


PASSING: dict[str, Callable[[], list[Resource]]] = {
    "pdb-min-available-1-of-2": lambda: owned(statefulset("db", replicas=2), pdb("db", minAvailable=1)),
    "pdb-max-unavailable-1": lambda: owned(deployment(), pdb("api", maxUnavailable=1)),
    "pdb-min-50-percent-of-2": lambda: owned(statefulset("db", replicas=2), pdb("db", minAvailable="50%")),
    # The idle colour at 0 replicas has no pod to evict: a budget selecting only it is no alarm.
    "pdb-on-idle-colour-at-0": lambda: [
        namespace(),
        default_deny(),
        *blue_green(),
        edited(
            pdb("web-green", minAvailable=1),
            (("spec", "selector", "matchLabels"), {"app.kubernetes.io/name": "web", "azora.io/color": "green"}),
        ),
    ],
    "pdb-below-hpa-min": lambda: owned(deployment(), pdb("api", maxUnavailable=1), hpa("api", min_replicas=2)),
    "pdb-min-1-below-hpa-min-2": lambda: owned(
        statefulset("db", replicas=2),
        pdb("db", minAvailable=1),
        edited(hpa("db"), (("spec", "scaleTargetRef", "kind"), "StatefulSet")),
    ),
    "hpa-target-present": lambda: owned(deployment(replicas=2), pdb("api"), hpa("api")),
    "ingress-port-by-number": lambda: owned(deployment(), service(), ingress()),
    "ingress-port-by-name": lambda: owned(deployment(), named_port_service(), ingress_to({"name": "http"})),
    "network-policy-match-labels": lambda: owned(
        deployment(), network_policy({"matchLabels": {"app.kubernetes.io/name": "api"}})
    ),
    "network-policy-match-expressions": lambda: owned(
        deployment(),
        network_policy(
            {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["api", "web"]}]}
        ),
    ),
    "network-policy-empty-selects-all": lambda: owned(network_policy({})),
    "default-deny-beside-workloads": lambda: [default_deny(), deployment()],
    "declared-namespace-is-stack-rules-to-check": lambda: [namespace(), default_deny(), deployment()],
    "service-account-present": lambda: owned(with_account(deployment(), "api-runner"), service_account("api-runner")),
    "service-account-default": lambda: owned(with_account(deployment(), "default")),
}


@pytest.mark.parametrize("build", list(PASSING.values()), ids=list(PASSING))
def test_relation_passing(build: Callable[[], list[Resource]]) -> None:
    assert relations(build()) == []


def test_a_helm_release_in_a_declared_namespace_makes_a_missing_target_advisory() -> None:
    release = Resource("kubernetes:helm.sh/v3:Release", {"namespace": NS, "chart": "postgresql"}, "pg")
    [(_, level, _, message)] = relations([*owned(hpa("ghost")), release])
    assert level == "advisory" and message.endswith(OUTSIDE)


def test_a_replicated_deployment_is_left_to_pdb_coverage() -> None:
    found = run(owned(deployment(replicas=2), pdb("api", maxUnavailable=0)), relations=True)
    assert [(v.policy, v.resource) for v in found] == [("pdb-coverage", "Deployment/shop/api")]


def test_index_selects_through_label_pairs_and_expressions() -> None:
    apps = [deployment(f"app{i}") for i in range(2000)]
    index = build_index([*apps, deployment("other", namespace="elsewhere")])
    assert index.selected(NS, {"matchLabels": {"app.kubernetes.io/name": "app1999"}}) == [apps[1999]]
    assert len(index.by_label[(NS, "app.kubernetes.io/part-of", "azora")]) == 2000
    expression = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["app7"]}]}
    assert index.selected(NS, expression) == [apps[7]]
    assert index.selected("elsewhere", {"matchLabels": {"app.kubernetes.io/name": "app1"}}) == []
    assert index.find("Deployment", NS, "app42") is apps[42]
    assert not index.owns(NS)


def test_through_the_sdk_an_outside_partner_is_advisory_and_a_missing_one_mandatory() -> None:
    # CrossGuard gives a policy one level: the mandatory rule's policy reports only what the set
    # owns, and `unchecked-during-preview` (advisory) reports a partner outside the set.
    outside = [hpa("ghost")]
    reports = Reports()
    _policy("hpa-target-exists").validate(_stack_args(outside), reports)
    assert reports.calls == []
    _policy("unchecked-during-preview").validate(_stack_args(outside), reports)
    message = "spec.scaleTargetRef Deployment/shop/ghost is not in the set" + OUTSIDE
    assert reports.calls == [(f"hpa-target-exists: HorizontalPodAutoscaler/shop/ghost: {message}", _urn(outside[0]))]
    reports = Reports()
    _policy("hpa-target-exists").validate(_stack_args(owned(*outside)), reports)
    assert [m for m, _ in reports.calls] == [
        "HorizontalPodAutoscaler/shop/ghost: spec.scaleTargetRef Deployment/shop/ghost is not in the set"
    ]
