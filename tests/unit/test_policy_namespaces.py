"""`no-default-namespace` over every namespaced kind (checkov CKV_K8S_21, Kyverno
`disallow-default-namespace`): ConfigMaps, Secrets, Ingresses, ServiceAccounts, Roles and the
rest fail in `default` or with no namespace, as workloads and Services always did
(`test_policy_metadata.py`). Cluster-scoped kinds, requests that are never stored, lists and
custom resources (whose scope is in their CRD) are not judged. The scope table is checked
against the kinds table, and the three stacks leave nothing in `default`.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.kinds import BUILTIN, CLUSTER_SCOPED, REQUESTS, stored_in_a_namespace
from policy.rules.model import UNKNOWN, Resource
from tests.conftest import mocked_stack
from tests.unit.policy_cli_support import manifest, report
from tests.unit.policy_support import DELETE, Case, assert_trips_only_its_rule, config_map, ingress, of, run
from tests.unit.test_stacks_pass_policy import policy_resources

RULE = "no-default-namespace"


def obj(token: str, name: str = "x", namespace: Any = "shop", **body: Any) -> Resource:
    """An object of the Pulumi type `token` (props as a Pulumi resource sends them: no apiVersion)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return Resource(token, {"metadata": metadata, **body}, name)


def secret() -> Resource:
    return obj("kubernetes:core/v1:Secret", "api-secrets", type="Opaque")


def service_account() -> Resource:
    return obj("kubernetes:core/v1:ServiceAccount", "api", automountServiceAccountToken=False)


def role() -> Resource:
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    return obj("kubernetes:rbac.authorization.k8s.io/v1:Role", "reader", rules=[rule])


def claim() -> Resource:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return obj("kubernetes:core/v1:PersistentVolumeClaim", "data", spec=spec)


NAMESPACE: tuple[str, ...] = ("metadata", "namespace")
IN_DEFAULT = "is in the 'default' namespace; move it to the app namespace"
UNSET = "metadata.namespace is not set, so it lands in 'default'; set the app namespace"

# The engine's catalogue coverage reads family files' CASES; these are this family's.
CASES = [
    Case(RULE, "configmap-default", config_map, ((NAMESPACE, "default"),), IN_DEFAULT),
    Case(RULE, "configmap-unset", config_map, ((NAMESPACE, DELETE),), UNSET),
    Case(RULE, "secret-default", secret, ((NAMESPACE, "default"),), IN_DEFAULT),
    Case(RULE, "ingress-unset", ingress, ((NAMESPACE, DELETE),), UNSET),
    Case(RULE, "service-account-default", service_account, ((NAMESPACE, "default"),), IN_DEFAULT),
    # Only Kubernetes' own ServiceAccount `default` and Service `kubernetes` pass in `default`.
    Case(RULE, "configmap-named-kubernetes", lambda: config_map("kubernetes"), ((NAMESPACE, "default"),), IN_DEFAULT),
    Case(RULE, "role-unset", role, ((NAMESPACE, DELETE),), UNSET),
    Case(RULE, "claim-default", claim, ((NAMESPACE, "default"),), IN_DEFAULT),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_every_namespaced_kind_in_default_fails(case: Case) -> None:
    assert_trips_only_its_rule(case)


# Objects without a namespace, or in `default`, that the rule must leave alone.
LOOK_ALIKES = [
    obj("kubernetes:core/v1:Namespace", "shop", namespace=None),
    obj("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "reader", namespace=None, rules=[]),
    obj("kubernetes:core/v1:PersistentVolume", "disk", namespace=None),
    obj("kubernetes:storage.k8s.io/v1:StorageClass", "fast", namespace=None, provisioner="x"),
    obj("kubernetes:networking.k8s.io/v1:IngressClass", "nginx", namespace=None),
    obj("kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration", "hook", namespace=None),
    obj("kubernetes:scheduling.k8s.io/v1:PriorityClass", "high", namespace=None, value=1000),
    # Cluster-scoped, even with a namespace written on it (the API server drops it).
    obj("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "bind", namespace="default"),
    # Requests, never stored in a namespace.
    obj("kubernetes:authorization.k8s.io/v1:LocalSubjectAccessReview", "ask", namespace=None),
    obj("kubernetes:authentication.k8s.io/v1:TokenReview", "review", namespace=None),
    # Custom resources: their scope is in their CRD, which one object's check cannot see.
    obj("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "api", namespace=None),
    obj("kubernetes:cert-manager.io/v1:ClusterIssuer", "letsencrypt", namespace=None),
    obj("kubernetes:cert-manager.io/v1:Certificate", "api", namespace="default"),
    # A list holds objects; it has no namespace of its own.
    obj("kubernetes:core/v1:ConfigMapList", "settings", namespace=None, items=[]),
    # What Kubernetes itself keeps in `default` (checkov passes them too).
    obj("kubernetes:core/v1:ServiceAccount", "default", namespace="default", automountServiceAccountToken=False),
    obj("kubernetes:core/v1:Service", "kubernetes", namespace=None),
    # A namespace whose name only starts like it.
    obj("kubernetes:core/v1:ConfigMap", "settings", namespace="default-apps"),
    # Pulumi's own types are no objects: a chart's objects are judged one by one.
    Resource("kubernetes:helm.sh/v4:Chart", {"chart": "ingress-nginx"}, "ingress"),
]


@pytest.mark.parametrize("resource", LOOK_ALIKES, ids=[r.type.rsplit(":", 1)[-1] for r in LOOK_ALIKES])
def test_cluster_scoped_requests_lists_and_custom_resources_pass(resource: Resource) -> None:
    assert of(run([resource]), RULE) == []


def test_an_unknown_namespace_is_named_not_passed() -> None:
    found = of(run([obj("kubernetes:core/v1:ConfigMap", "settings", namespace=UNKNOWN)]), RULE)
    assert [(v.enforcement, v.message) for v in found] == [
        (
            "advisory",
            "not checked during preview: metadata.namespace is not known during preview; it is checked again on update",
        )
    ]


def test_manifests_are_judged_by_their_apiversion_and_kind() -> None:
    text = "---\n".join(
        [
            manifest("v1", "ConfigMap", "settings", namespace=None),
            manifest("rbac.authorization.k8s.io/v1", "RoleBinding", "readers", namespace="default"),
            manifest("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "readers", namespace=None),
            manifest("monitoring.coreos.com/v1", "PrometheusRule", "alerts", namespace=None),
        ]
    )
    _, document = report("-", stdin=text)
    assert [(v["resource"], v["message"]) for v in document["violations"] if v["policy"] == RULE] == [
        ("ConfigMap/-/settings", UNSET),
        ("RoleBinding/default/readers", IN_DEFAULT),
    ]


def test_the_scope_table_names_built_in_kinds_only() -> None:
    builtin = {kind for kinds in BUILTIN.values() for kind in kinds}
    assert builtin >= CLUSTER_SCOPED | REQUESTS
    assert not CLUSTER_SCOPED & REQUESTS
    # The kinds a platform stack writes most, on the side Kubernetes puts them.
    assert {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"} <= CLUSTER_SCOPED
    namespaced = builtin - CLUSTER_SCOPED - REQUESTS
    assert {"ConfigMap", "Secret", "Ingress", "Role", "RoleBinding", "ServiceAccount", "NetworkPolicy"} <= namespaced
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Lease"} <= namespaced


def test_every_namespaced_built_in_kind_is_judged() -> None:
    for api_version, kinds in BUILTIN.items():
        group = api_version.rpartition("/")[0] or "core"
        version = api_version.rpartition("/")[2]
        for kind in kinds:
            resource = obj(f"kubernetes:{group}/{version}:{kind}", namespace=None)
            assert stored_in_a_namespace(resource) == (kind not in CLUSTER_SCOPED | REQUESTS), (api_version, kind)


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_the_stacks_leave_nothing_in_default(stack: str) -> None:
    resources = policy_resources(mocked_stack(stack))
    assert sum(1 for r in resources if stored_in_a_namespace(r)) > 30  # the rule had objects to judge
    assert of(run(resources), RULE) == []
