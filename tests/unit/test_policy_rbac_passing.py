"""The RBAC rules: close look-alikes that must produce nothing (`get` on pods/log rather than
pods/exec, `list` on configmaps rather than secrets, `system:` subjects and roles,
resourceNames), exemptions, levels from config, and how roles are looked up (by kind,
namespace and name; unknown and malformed parts are named, never passed).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from policy.rules.engine import UNCHECKED_PREFIX, evaluate
from policy.rules.exemptions import EXEMPT_ANNOTATION
from policy.rules.model import UNKNOWN, Resource
from policy.rules.settings import parse_settings
from tests.unit.rbac_support import (
    EVERYTHING,
    EXEC,
    NS,
    SECRETS,
    TOKEN,
    WILDCARD_FIX,
    binding,
    binding_of,
    cluster_binding,
    cluster_role,
    exempt,
    group,
    levels,
    rbac_violations,
    role,
    rule,
    sa,
    user,
)

# --------------------------------------------------------------------------------------
# Passing: close look-alikes report nothing.
# --------------------------------------------------------------------------------------

LOOK_ALIKES: dict[str, Callable[[], list[Resource]]] = {
    # `*` verbs on named resources (the Prometheus operator's own ClusterRole does this) reach
    # only those resources: judged by what they reach, here nothing the other rules look at.
    "wildcard verbs on configmaps only": lambda: [
        role("config-owner", rule(["get"], ["pods"]), rule(["*"], ["configmaps"])),
        binding("config-owner", ("Role", "config-owner")),
    ],
    # what the embedded Prometheus has: discovery of the app namespace's pods
    "pod-discovery": lambda: [
        role("prometheus-discovery", rule(["get", "list", "watch"], ["pods"])),
        binding("prometheus-discovery", ("Role", "prometheus-discovery"), sa("prometheus", "monitoring")),
    ],
    "logs-not-exec": lambda: [role("log-reader", rule(["get"], ["pods", "pods/log"]))],
    # what metrics need: the kubelet's metrics endpoints, not its whole API
    "node-metrics-not-proxy": lambda: [
        cluster_role("scraper", rule(["get"], ["nodes", "nodes/metrics", "nodes/stats"])),
        cluster_binding("scraper", "scraper"),
    ],
    "list-watch-on-exec-is-not-exec": lambda: [role("odd", rule(["list", "watch"], ["pods/exec"]))],
    "exec-in-another-api-group": lambda: [role("odd", rule(["create"], ["pods/exec"], ["apps"]))],
    "configmaps-not-secrets": lambda: [role("config-reader", rule(["get", "list", "watch"], ["configmaps"]))],
    "a-named-secret": lambda: [role("tls-reader", rule(["get", "watch"], ["secrets"], resourceNames=["api-tls"]))],
    "write-only-secrets": lambda: [role("secret-writer", rule(["create"], ["secrets"]))],
    "create-other-kinds": lambda: [role("config-writer", rule(["create"], ["configmaps", "services"]))],
    "evict-not-create-pods": lambda: [role("drainer", rule(["create"], ["pods/eviction"]))],
    # create cannot be limited by name, so a named rule grants no create at all
    "create-with-resource-names": lambda: [role("odd", rule(["create"], ["pods"], resourceNames=["api-0"]))],
    "scale-any-resource-is-not-a-wildcard": lambda: [
        role("scaler", rule(["get", "update"], ["*/scale"], ["apps"])),
        binding("scaler", ("Role", "scaler")),
    ],
    "manage-rbac-objects-without-escalating": lambda: [
        role("rbac-editor", rule(["get", "create", "update"], ["roles", "rolebindings"], ["rbac.authorization.k8s.io"]))
    ],
    "bind-a-named-role": lambda: [
        role("binder", rule(["bind"], ["roles"], ["rbac.authorization.k8s.io"], resourceNames=["app-reader"]))
    ],
    "impersonate-on-pods-grants-nothing": lambda: [role("odd", rule(["impersonate"], ["pods"]))],
    "binding-to-built-in-view": lambda: [cluster_binding("auditors", "view", group("auditors"))],
    "kubernetes-own-binding": lambda: [cluster_binding("cluster-admin", "cluster-admin", group("system:masters"))],
    "kubernetes-own-controller": lambda: [
        cluster_binding("system:kube-controller-manager", "cluster-admin", user("system:kube-controller-manager"))
    ],
    "system-role": lambda: [
        cluster_role("system:controller:tokens", rule(["*"], ["*"])),
        cluster_binding("tokens", "system:controller:tokens", user("alice")),
        cluster_binding("discovery", "system:discovery", group("system:authenticated")),
    ],
    "binding-without-subjects": lambda: [binding_of("RoleBinding", "nobody", NS, ("ClusterRole", "cluster-admin"), [])],
    "exempted-binding": lambda: [
        cluster_binding("break-glass", "cluster-admin", group("sre"), **exempt("rbac-no-cluster-admin-binding"))
    ],
    "exempted-role": lambda: [
        role("debugger", rule(["create"], ["pods/exec"]), **exempt("rbac-no-exec-attach")),
        binding("debugger", ("Role", "debugger"), user("oncall")),
    ],
    "exempted-unknown-role": lambda: [
        binding("ops", ("Role", "ops-tools"), user("bob"), **exempt("rbac-binding-role-known", "owned by platform"))
    ],
}


@pytest.mark.parametrize("resources", list(LOOK_ALIKES.values()), ids=list(LOOK_ALIKES))
def test_look_alikes_pass_every_rule(resources: Callable[[], list[Resource]]) -> None:
    assert evaluate(resources()) == []


def test_an_exemption_covers_only_the_rule_it_names() -> None:
    # The exec exemption leaves the Secret read on the same role reported.
    debugger = role(
        "debugger", rule(["create"], ["pods/exec"]), rule(["list"], ["secrets"]), **exempt("rbac-no-exec-attach")
    )
    assert rbac_violations([debugger]) == [
        (
            "rbac-no-secret-read",
            "Role/shop/debugger",
            'rules[1] grants verbs ["list"] on resources ["secrets"]' + SECRETS,
        )
    ]


def test_an_exemption_without_a_reason_exempts_nothing() -> None:
    binding_ = cluster_binding("ci", "cluster-admin", **{EXEMPT_ANNOTATION: "rbac-no-cluster-admin-binding"})
    found = {(v.policy, v.resource) for v in evaluate([binding_])}
    assert found == {
        ("rbac-no-cluster-admin-binding", "ClusterRoleBinding/-/ci"),
        ("policy-exemption-reason", "ClusterRoleBinding/-/ci"),
    }


def test_config_raises_an_advisory_rbac_rule_to_mandatory() -> None:
    resources = [role("config-reader", rule(["list"], ["secrets"]))]
    assert levels(resources) == {"rbac-no-secret-read": "advisory"}
    found = evaluate(resources, parse_settings({"rbac-no-secret-read": "mandatory"}))
    assert [(v.policy, v.enforcement) for v in found] == [("rbac-no-secret-read", "mandatory")]


# --------------------------------------------------------------------------------------
# Lookups: by kind, namespace and name; unknown and malformed parts are named, never passed.
# --------------------------------------------------------------------------------------


def test_a_cluster_role_and_a_role_of_the_same_name_are_told_apart() -> None:
    resources = [
        cluster_role("reader", rule(["*"], ["*"])),
        role("reader", rule(["get"], ["pods"])),
        binding("reader", ("Role", "reader")),
    ]
    assert [(p, r) for p, r, _ in rbac_violations(resources) if r.startswith("RoleBinding")] == []
    resources[2] = binding("reader", ("ClusterRole", "reader"))
    assert ("rbac-no-cluster-admin-binding", "RoleBinding/shop/reader") in {
        (p, r) for p, r, _ in rbac_violations(resources)
    }


def test_the_index_resolves_many_bindings_in_one_pass() -> None:
    # 300 namespaces, each with its own Role and RoleBinding; one of them is a wildcard.
    resources: list[Resource] = []
    for n in range(300):
        namespace = f"team-{n}"
        rules = rule(["*"], ["*"]) if n == 123 else rule(["get"], ["pods"])
        resources += [role("app", rules, namespace=namespace), binding("app", ("Role", "app"), namespace=namespace)]
    found = [(p, r) for p, r, _ in rbac_violations(resources) if p == "rbac-no-cluster-admin-binding"]
    assert found == [("rbac-no-cluster-admin-binding", "RoleBinding/team-123/app")]


def test_unknown_role_ref_is_named_not_passed() -> None:
    resources = [EVERYTHING, binding_of("ClusterRoleBinding", "ci", None, ("ClusterRole", UNKNOWN), [sa()])]  # type: ignore[arg-type]
    unchecked = [
        (v.policy, v.enforcement, v.resource, v.message)
        for v in evaluate(resources)
        if v.resource.startswith("ClusterRoleBinding")
    ]
    message = UNCHECKED_PREFIX + "roleRef is not known during preview; it is checked again on update"
    assert unchecked == [
        ("rbac-no-cluster-admin-binding", "advisory", "ClusterRoleBinding/-/ci", message),
        ("rbac-binding-role-known", "advisory", "ClusterRoleBinding/-/ci", message),
    ]


def test_unknown_rules_are_named_and_known_ones_still_checked() -> None:
    debugger = role("debugger", UNKNOWN, rule(["create"], ["pods/attach"]))  # type: ignore[arg-type]
    found = [
        (v.policy, v.enforcement, v.message) for v in evaluate([debugger, binding("debugger", ("Role", "debugger"))])
    ]
    unknown = UNCHECKED_PREFIX + "rules[0] is not known during preview; it is checked again on update"
    on_binding = (
        UNCHECKED_PREFIX + "Role shop/debugger " + "rules[0] is not known during preview; it is checked again on update"
    )
    assert found == [
        ("rbac-no-cluster-admin-binding", "advisory", on_binding),
        ("rbac-no-exec-attach", "advisory", unknown),
        ("rbac-no-exec-attach", "mandatory", 'rules[1] grants verbs ["create"] on resources ["pods/attach"]' + EXEC),
        ("rbac-no-escalation-verbs", "advisory", unknown),
        ("rbac-no-node-proxy", "advisory", unknown),
        ("rbac-no-secret-read", "advisory", unknown),
        ("rbac-no-workload-create", "advisory", unknown),
        ("rbac-no-webhook-write", "advisory", unknown),
        ("rbac-no-csr-approve", "advisory", unknown),
        ("rbac-no-service-status-write", "advisory", unknown),
    ]


def test_a_binding_cannot_match_a_role_whose_name_is_unknown() -> None:
    # During preview an auto-named role's name is unknown: the binding may name it.
    unnamed = Resource(TOKEN + "ClusterRole", {"metadata": {"name": UNKNOWN}, "rules": [rule(["get"], ["pods"])]}, "x")
    found = [(v.policy, v.message) for v in evaluate([unnamed, cluster_binding("ci", "deployer")])]
    message = (
        UNCHECKED_PREFIX + "ClusterRole deployer (a role whose name is unknown may be it) is not known during preview; "
        "it is checked again on update"
    )
    assert found == [("rbac-no-cluster-admin-binding", message), ("rbac-binding-role-known", message)]


def test_malformed_rules_are_reported_on_the_role() -> None:
    broken = role("broken", {"apiGroups": [""], "resources": ["pods"], "verbs": "get"})
    found = {(v.policy, v.resource, v.message) for v in evaluate([broken])}
    assert ("rbac-no-exec-attach", "Role/shop/broken", "rules[0].verbs must be a list of strings, got 'get'") in found
    assert all(not v.message.startswith("the stack's objects is malformed") for v in evaluate([broken]))


def test_a_cluster_role_binding_cannot_bind_a_role() -> None:
    wrong = binding_of("ClusterRoleBinding", "wrong", None, ("Role", "reader"), [sa()])
    assert (
        "rbac-binding-role-known",
        "ClusterRoleBinding/-/wrong",
        "roleRef names Role reader, but a ClusterRoleBinding can only bind a ClusterRole",
    ) in rbac_violations([wrong])


def test_a_service_account_without_a_namespace_is_shown_as_unknown() -> None:
    crb = cluster_binding("ci", "cluster-admin", {"kind": "ServiceAccount", "name": "deployer"})
    assert [m for _, _, m in rbac_violations([crb])] == [
        "ClusterRoleBinding ci binds ClusterRole cluster-admin (the built-in role grants verbs "
        '["*"] on resources ["*"] in apiGroups ["*"]) to ServiceAccount ?/deployer' + WILDCARD_FIX
    ]


def test_older_rbac_api_versions_are_read_too() -> None:
    old = Resource(
        "kubernetes:rbac.authorization.k8s.io/v1beta1:ClusterRoleBinding",
        cluster_binding("ci", "cluster-admin").props,
        "ci",
    )
    assert [p for p, _, _ in rbac_violations([old])] == ["rbac-no-cluster-admin-binding"]
