"""The stack rules (`policy/rules/stack.py`), which see every resource at once: pdb-coverage,
namespace-default-deny, service-selects-workload and blue-green-pair. Each failing case names
the resource its violation is on; passing stacks report nothing; PDB percentages round like
Kubernetes; unknowns are named as advisories on the resource they belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    DELETE,
    PRODUCTION,
    blue_green,
    default_deny,
    deployment,
    edited,
    namespace,
    of,
    pdb,
    replaced,
    run,
    service,
    summary,
    workload,
)

# --------------------------------------------------------------------------------------
# Failing: each case names the resource its violation is on.
# --------------------------------------------------------------------------------------


def default_deny_egress() -> Resource:
    """A second policy that closes Egress for every pod (a namespace may split its deny in two)."""
    policy = default_deny(policyTypes=["Egress"])
    return edited(policy, (("metadata", "name"), "default-deny-egress"))


@dataclass(frozen=True)
class StackCase:
    rule: str
    id: str
    resources: Callable[[], list[Resource]]
    resource: str  # the display of the resource the violation names
    message: str
    settings: Mapping[str, Any] | None = None
    also: frozenset[str] = field(default_factory=frozenset)

    @property
    def param(self) -> Any:
        return pytest.param(self, id=f"{self.rule}:{self.id}")


CASES = [
    StackCase(
        "pdb-coverage",
        "no-budget",
        lambda: [deployment(replicas=2)],
        "Deployment/shop/api",
        "2 replicas but no PodDisruptionBudget selects its pods",
    ),
    StackCase(
        "pdb-coverage",
        "stateful-set-without-budget",
        lambda: [workload("StatefulSet", "db", replicas=3)],
        "StatefulSet/shop/db",
        "3 replicas but no PodDisruptionBudget selects its pods",
    ),
    StackCase(
        "pdb-coverage",
        "budget-in-other-namespace",
        lambda: [deployment(replicas=2), pdb(namespace="other")],
        "Deployment/shop/api",
        "no PodDisruptionBudget selects its pods",
    ),
    StackCase(
        "pdb-coverage",
        "max-unavailable-0",
        lambda: [deployment(replicas=3), pdb(maxUnavailable=0)],
        "Deployment/shop/api",
        "the PodDisruptionBudget (PodDisruptionBudget/shop/api) allows no disruption of its 3 replicas",
    ),
    StackCase(
        "pdb-coverage",
        "min-available-all",
        lambda: [deployment(replicas=3), pdb(minAvailable=3)],
        "Deployment/shop/api",
        "allows no disruption of its 3 replicas, so nodes cannot drain",
    ),
    StackCase(
        "pdb-coverage",
        "min-available-100%",
        lambda: [deployment(replicas=3), pdb(minAvailable="100%")],
        "Deployment/shop/api",
        "allows no disruption",
    ),
    StackCase(
        "namespace-default-deny", "none", lambda: [namespace()], "Namespace/-/shop", "has no default-deny NetworkPolicy"
    ),
    StackCase(
        "namespace-default-deny",
        "policy-elsewhere",
        lambda: [namespace(), default_deny("other")],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "namespace-default-deny",
        "allows-ingress",
        lambda: [namespace(), default_deny(ingress=[{"from": [{"podSelector": {}}]}])],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "namespace-default-deny",
        "ingress-only",  # every pod can still send anywhere
        lambda: [namespace(), default_deny(policyTypes=["Ingress"])],
        "Namespace/-/shop",
        "or one such policy per direction",
    ),
    StackCase(
        "namespace-default-deny",
        "egress-reopened",
        lambda: [namespace(), default_deny(egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "namespace-default-deny",
        "selects-some-pods",
        lambda: [namespace(), default_deny(podSelector={"matchLabels": {"app.kubernetes.io/name": "api"}})],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "service-selects-workload",
        "dangling",
        lambda: [deployment(), service(selector={"app.kubernetes.io/name": "ghost"})],
        "Service/shop/api",
        "spec.selector (app.kubernetes.io/name=ghost) selects no workload's pods in this stack",
    ),
    StackCase(
        "service-selects-workload",
        "workload-in-other-namespace",
        lambda: [deployment(namespace="other"), service()],
        "Service/shop/api",
        "selects no workload's pods",
    ),
    StackCase(
        "blue-green-pair",
        "same-colour",
        lambda: blue_green(active="blue", preview="blue"),
        "Service/shop/web-preview",
        "active and preview Services of 'web' both select 'blue'; the preview must select the idle colour",
    ),
    StackCase(
        "blue-green-pair",
        "active-colour-at-zero",
        lambda: blue_green(active="blue", active_replicas=0, idle_replicas=2),
        "Deployment/shop/web-blue",
        "the active colour 'blue' of 'web' has 0 replicas, so the active Service has no endpoints",
    ),
    StackCase(
        "blue-green-pair",
        "active-without-colour",
        lambda: replaced(
            blue_green(), "Service/shop/web-active", (("spec", "selector"), {"app.kubernetes.io/name": "web"})
        ),
        "Service/shop/web-active",
        "the active Service of 'web' does not select a colour (azora.io/color)",
    ),
    StackCase(
        "blue-green-pair",
        "production-floor-by-label",
        lambda: blue_green(active_replicas=1, env="production"),
        "Deployment/shop/web-blue",
        "the active colour 'blue' of 'web' runs 1 replicas; production needs at least 2",
    ),
    StackCase(
        "blue-green-pair",
        "production-floor-by-option",
        lambda: blue_green(active_replicas=1),
        "Deployment/shop/web-blue",
        "runs 1 replicas; production needs at least 2",
        settings={"blue-green-pair": PRODUCTION},
    ),
    StackCase(
        "blue-green-pair",
        "production-floor-min-replicas",
        lambda: blue_green(active_replicas=2, env="production"),
        "Deployment/shop/web-blue",
        "runs 2 replicas; production needs at least 3",
        settings={"blue-green-pair": {"minReplicas": 3}},
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_stack_rule_failing(case: StackCase) -> None:
    violations = run(case.resources(), case.settings)
    assert {v.policy for v in violations} == {case.rule} | case.also, summary(violations)
    (violation,) = of(violations, case.rule)
    assert (violation.enforcement, violation.resource) == ("mandatory", case.resource)
    assert case.message in violation.message


# --------------------------------------------------------------------------------------
# Passing: stacks that satisfy every stack rule.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resources",
    [
        lambda: [deployment(replicas=2), pdb(maxUnavailable=1)],
        lambda: [deployment(replicas=2), pdb(minAvailable=1)],
        lambda: [deployment(replicas=2), pdb(maxUnavailable="50%")],
        lambda: [deployment(replicas=4), pdb(minAvailable="50%")],
        lambda: [
            deployment(replicas=3),
            edited(
                pdb(),
                (
                    ("spec", "selector"),
                    {
                        "matchExpressions": [
                            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["api", "web"]}
                        ]
                    },
                ),
            ),
        ],
        lambda: [deployment(replicas=1)],  # a single replica needs no budget
        lambda: [workload("StatefulSet", "db", replicas=3), pdb("db", maxUnavailable=1)],
        lambda: [workload("DaemonSet", "agent")],  # one pod a node: drains evict it anyway
        lambda: [namespace(), default_deny()],
        lambda: [namespace(), default_deny(policyTypes=["Ingress"]), default_deny_egress()],
        lambda: [deployment(), service()],
        lambda: [workload("Job", "report"), service("report")],  # any workload kind can be selected
        lambda: [deployment(), edited(service(), (("spec", "selector"), DELETE))],  # selector-less: endpoints by hand
        lambda: blue_green(),
        lambda: blue_green(active="green", preview="blue"),
        lambda: blue_green(active_replicas=3, idle_replicas=0, env="production"),  # idle colour at 0 is fine
        lambda: [s for s in blue_green() if s.display != "Service/shop/web-preview"],  # active only
    ],
    ids=[
        "max-unavailable-1",
        "min-available-1",
        "max-unavailable-50%",
        "min-available-50%",
        "match-expressions",
        "single-replica",
        "stateful-set-budget",
        "daemon-set",
        "default-deny",
        "default-deny-a-policy-per-direction",
        "service-selects",
        "service-selects-job",
        "no-selector",
        "blue-green",
        "switched",
        "production-idle-zero",
        "active-only",
    ],
)
def test_stack_rule_passing(resources: Callable[[], list[Resource]]) -> None:
    assert run(resources()) == []


def test_pdb_max_unavailable_percentage_rounds_up_like_kubernetes() -> None:
    # BUG stack.py:44 `_allows_disruption` rounds a maxUnavailable percentage *down*
    # (int(3 * 0.10) == 0) and reports "allows no disruption". Kubernetes rounds it up
    # (disruption controller, GetScaledValueFromIntOrPercent(..., roundUp=true); documented
    # under "Rounding logic when specifying percentages"): 10% of 3 pods allows 1 eviction.
    assert run([deployment(replicas=3), pdb(maxUnavailable="10%")]) == []


# --------------------------------------------------------------------------------------
# Unknowns: named as advisories on the resource they belong to.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "resources", "resource", "named"),
    [
        (
            "pdb-coverage",
            lambda: [edited(deployment(), (("spec", "replicas"), UNKNOWN))],
            "Deployment/shop/api",
            "spec.replicas",
        ),
        (
            "pdb-coverage",
            lambda: [deployment(replicas=3), pdb(maxUnavailable=UNKNOWN)],
            "Deployment/shop/api",
            "its PodDisruptionBudget",
        ),
        (
            "pdb-coverage",
            lambda: [edited(deployment(replicas=2), (("spec", "template", "metadata", "labels"), UNKNOWN))],
            "Deployment/shop/api",
            "the pod template labels",
        ),
        (
            "namespace-default-deny",
            lambda: [edited(namespace(), (("metadata", "name"), UNKNOWN))],
            "Namespace/-/?",
            "metadata.name",
        ),
        (
            "service-selects-workload",
            lambda: [deployment(), edited(service(), (("spec", "selector"), UNKNOWN))],
            "Service/shop/api",
            "spec.selector",
        ),
        (
            "service-selects-workload",
            lambda: [edited(deployment("x"), (("spec", "template", "metadata", "labels"), UNKNOWN)), service()],
            "Service/shop/api",
            "the pod labels it could select",
        ),
        (
            "blue-green-pair",
            lambda: replaced(
                blue_green(), "Service/shop/web-active", (("spec", "selector", "azora.io/color"), UNKNOWN)
            ),
            "Service/shop/web-active",
            "spec.selector",
        ),
        (
            "blue-green-pair",
            lambda: replaced(blue_green(), "Deployment/shop/web-blue", (("spec", "replicas"), UNKNOWN)),
            "Deployment/shop/web-blue",
            "spec.replicas",
        ),
    ],
    ids=[
        "replicas",
        "budget",
        "pod-labels",
        "namespace-name",
        "selector",
        "candidate-labels",
        "active-colour",
        "active-replicas",
    ],
)
def test_stack_rules_name_unknowns_as_advisory(
    rule: str, resources: Callable[[], list[Resource]], resource: str, named: str
) -> None:
    mine = of(run(resources()), rule)
    assert [(v.enforcement, v.resource) for v in mine] == [("advisory", resource)]
    assert mine[0].message.startswith(UNCHECKED_PREFIX) and named in mine[0].message


def test_unknown_preview_colour_is_named_not_silently_passed() -> None:
    # BUG stack.py:153-154 (check_blue_green): `preview_color == active_color` is False for UNKNOWN, so an unknown
    # preview colour is neither checked nor reported.
    resources = replaced(blue_green(), "Service/shop/web-preview", (("spec", "selector", "azora.io/color"), UNKNOWN))
    mine = of(run(resources), "blue-green-pair")
    assert [(v.enforcement, v.resource) for v in mine] == [("advisory", "Service/shop/web-preview")]
