"""The RBAC reach rules (`policy/rules/rbac_reach.py`) through the real engine: failing cases
with the exact violations they produce, close look-alikes that produce nothing, unknown labels
during preview, and levels.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from policy.rules import rbac_reach
from policy.rules.engine import UNCHECKED_PREFIX, evaluate
from policy.rules.model import UNKNOWN, Resource
from policy.rules.settings import parse_settings
from tests.unit.rbac_support import (
    ADMISSION,
    AGGREGATE_FIX,
    CERTIFICATES,
    CSR,
    EVERYTHING,
    EXEC,
    REACH_RULES,
    SECRETS,
    SERVICE_STATUS,
    WEBHOOKS,
    aggregate,
    all_rbac_violations,
    cluster_binding,
    cluster_role,
    exempt,
    labelled,
    role,
    rule,
    sa,
)
from tests.unit.test_policy_rbac import RbacCase

EDIT = 'metadata.labels sets rbac.authorization.k8s.io/aggregate-to-edit="true"'
VIEW = 'metadata.labels sets rbac.authorization.k8s.io/aggregate-to-view="true"'
TO_EDIT = " to every subject bound to the built-in admin or edit, with no binding in this stack" + AGGREGATE_FIX
TO_VIEW = " to every subject bound to the built-in admin, edit or view, with no binding in this stack" + AGGREGATE_FIX

# --------------------------------------------------------------------------------------
# Failing: each case lists exactly the RBAC violations (of both families) it must produce.
# --------------------------------------------------------------------------------------

CASES = [
    RbacCase(
        # an operator's "edit" role: editors can now issue certificates from every issuer
        "rbac-no-aggregate-to-builtin",
        "writes-aggregated-into-edit",
        lambda: [
            labelled(
                cluster_role("cert-edit", rule(["create", "update", "delete"], ["certificates"], ["cert-manager.io"])),
                aggregate("edit"),
            )
        ],
        [
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/cert-edit",
                EDIT
                + ', so rules[0] grants verbs ["create", "update", "delete"] on resources ["certificates"]'
                + TO_EDIT,
            )
        ],
    ),
    RbacCase(
        "rbac-no-aggregate-to-builtin",
        "secrets-aggregated-into-view",
        lambda: [labelled(cluster_role("secret-view", rule(["get", "list", "watch"], ["secrets"])), aggregate("view"))],
        [
            (
                "rbac-no-secret-read",
                "ClusterRole/-/secret-view",
                'rules[0] grants verbs ["get", "list", "watch"] on resources ["secrets"]' + SECRETS,
            ),
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/secret-view",
                VIEW + ', so rules[0] grants verbs ["get", "list", "watch"] on resources ["secrets"]' + TO_VIEW,
            ),
        ],
    ),
    RbacCase(
        # `*` reads whatever the group serves, now and later
        "rbac-no-aggregate-to-builtin",
        "every-resource-of-a-group-into-view",
        lambda: [
            labelled(cluster_role("mon-view", rule(["get"], ["*"], ["monitoring.coreos.com"])), aggregate("view"))
        ],
        [
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/mon-view",
                VIEW + ', so rules[0] grants verbs ["get"] on resources ["*"]' + TO_VIEW,
            )
        ],
    ),
    RbacCase(
        # over WebSocket, get on pods/portforward opens a connection into the pod
        "rbac-no-aggregate-to-builtin",
        "get-that-connects-into-view",
        lambda: [
            labelled(
                cluster_role("tunnel", rule(["get", "list"], ["pods"]), rule(["get"], ["pods/portforward"])),
                aggregate("view"),
            )
        ],
        [
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/tunnel",
                VIEW + ', so rules[1] grants verbs ["get"] on resources ["pods/portforward"]' + TO_VIEW,
            )
        ],
    ),
    RbacCase(
        "rbac-no-aggregate-to-builtin",
        "admin-only",
        lambda: [
            labelled(cluster_role("db-admin", rule(["*"], ["databases"], ["db.example.com"])), aggregate("admin"))
        ],
        [
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/db-admin",
                'metadata.labels sets rbac.authorization.k8s.io/aggregate-to-admin="true", so rules[0] grants verbs '
                '["*"] on resources ["databases"] to every subject bound to the built-in admin, with no binding in '
                "this stack" + AGGREGATE_FIX,
            )
        ],
    ),
    RbacCase(
        "rbac-no-aggregate-to-builtin",
        "several-labels",
        lambda: [
            labelled(cluster_role("db", rule(["patch"], ["databases"], ["db.example.com"])), aggregate("admin", "view"))
        ],
        [
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/db",
                'metadata.labels sets rbac.authorization.k8s.io/aggregate-to-admin="true" and '
                'rbac.authorization.k8s.io/aggregate-to-view="true", so rules[0] grants verbs ["patch"] on resources '
                '["databases"]' + TO_VIEW,
            )
        ],
    ),
    RbacCase(
        # what it passes on into edit comes from roles that carry no aggregate-to label themselves
        "rbac-no-aggregate-to-builtin",
        "aggregated-role-that-aggregates",
        lambda: [
            Resource(
                "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                {
                    "metadata": {"name": "relay", "labels": aggregate("edit")},
                    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"azora.io/relay": "true"}}]},
                    "rules": [],
                },
                "relay",
            )
        ],
        [
            (
                "rbac-no-aggregate-to-builtin",
                "ClusterRole/-/relay",
                EDIT + ", and its rules come from the ClusterRoles its aggregationRule selects, so what every subject "
                "bound to the built-in admin or edit gets cannot be checked here" + AGGREGATE_FIX,
            )
        ],
    ),
    RbacCase(
        # what cert-manager's CA injector asks for
        "rbac-no-webhook-write",
        "ca-injector",
        lambda: [
            cluster_role(
                "cainjector",
                rule(
                    ["get", "list", "watch", "update", "patch"],
                    ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
                    [ADMISSION],
                ),
            )
        ],
        [
            (
                "rbac-no-webhook-write",
                "ClusterRole/-/cainjector",
                'rules[0] grants verbs ["get", "list", "watch", "update", "patch"] on resources '
                '["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]' + WEBHOOKS,
            )
        ],
    ),
    RbacCase(
        # deleting one named binding switches that policy off
        "rbac-no-webhook-write",
        "delete-a-named-policy-binding",
        lambda: [
            cluster_role(
                "policy-janitor",
                rule(["delete"], ["validatingadmissionpolicybindings"], [ADMISSION], resourceNames=["require-labels"]),
            )
        ],
        [
            (
                "rbac-no-webhook-write",
                "ClusterRole/-/policy-janitor",
                'rules[0] grants verbs ["delete"] on resources ["validatingadmissionpolicybindings"] named '
                '["require-labels"]' + WEBHOOKS,
            )
        ],
    ),
    RbacCase(
        "rbac-no-webhook-write",
        "every-verb-on-mutating-policies",
        lambda: [cluster_role("mutator", rule(["*"], ["mutatingadmissionpolicies"], [ADMISSION]))],
        [
            (
                "rbac-no-webhook-write",
                "ClusterRole/-/mutator",
                'rules[0] grants verbs ["*"] on resources ["mutatingadmissionpolicies"]' + WEBHOOKS,
            )
        ],
    ),
    RbacCase(
        "rbac-no-csr-approve",
        "approve-for-every-signer",
        lambda: [cluster_role("approver", rule(["approve"], ["signers"], [CERTIFICATES]))],
        [
            (
                "rbac-no-csr-approve",
                "ClusterRole/-/approver",
                'rules[0] grants verbs ["approve"] on resources ["signers"]' + CSR,
            )
        ],
    ),
    RbacCase(
        # a kubelet serving-certificate approver: the finding sits on the signer grant
        "rbac-no-csr-approve",
        "approve-kubelet-serving",
        lambda: [
            cluster_role(
                "kubelet-csr-approver",
                rule(["get", "list", "watch"], ["certificatesigningrequests"], [CERTIFICATES]),
                rule(["update"], ["certificatesigningrequests/approval"], [CERTIFICATES]),
                rule(["approve"], ["signers"], [CERTIFICATES], resourceNames=["kubernetes.io/kubelet-serving"]),
            )
        ],
        [
            (
                "rbac-no-csr-approve",
                "ClusterRole/-/kubelet-csr-approver",
                'rules[2] grants verbs ["approve"] on resources ["signers"] named ["kubernetes.io/kubelet-serving"]'
                + CSR,
            )
        ],
    ),
    RbacCase(
        "rbac-no-csr-approve",
        "every-built-in-signer",
        lambda: [cluster_role("approver", rule(["*"], ["signers"], [CERTIFICATES], resourceNames=["kubernetes.io/*"]))],
        [
            (
                "rbac-no-csr-approve",
                "ClusterRole/-/approver",
                'rules[0] grants verbs ["*"] on resources ["signers"] named ["kubernetes.io/*"]' + CSR,
            )
        ],
    ),
    RbacCase(
        # what a bare-metal load-balancer controller asks for
        "rbac-no-service-status-write",
        "load-balancer-controller",
        lambda: [
            cluster_role(
                "lb-controller", rule(["get", "list", "watch"], ["services"]), rule(["update"], ["services/status"])
            )
        ],
        [
            (
                "rbac-no-service-status-write",
                "ClusterRole/-/lb-controller",
                'rules[1] grants verbs ["update"] on resources ["services/status"]' + SERVICE_STATUS,
            )
        ],
    ),
    RbacCase(
        "rbac-no-service-status-write",
        "patch-every-status-in-a-namespace",
        lambda: [role("status-writer", rule(["patch"], ["*/status"]))],
        [
            (
                "rbac-no-service-status-write",
                "Role/shop/status-writer",
                'rules[0] grants verbs ["patch"] on resources ["*/status"]' + SERVICE_STATUS,
            )
        ],
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_reach_rule_failing(case: RbacCase) -> None:
    assert all_rbac_violations(case.resources()) == case.expected
    assert case.rule in {policy for policy, _, _ in case.expected}


def test_every_reach_rule_has_a_failing_case() -> None:
    assert {case.rule for case in CASES} == set(REACH_RULES)


ALL_GROUPS = cluster_role("all-groups", rule(["*"], ["*"], ["*"]))


def test_a_wildcard_role_reaches_webhooks_signers_and_service_status() -> None:
    everything = 'rules[0] grants verbs ["*"] on resources ["*"] in apiGroups ["*"]'
    found = [(p, r, m) for p, r, m in all_rbac_violations([ALL_GROUPS]) if p in REACH_RULES]
    assert found == [
        ("rbac-no-webhook-write", "ClusterRole/-/all-groups", everything + WEBHOOKS),
        ("rbac-no-csr-approve", "ClusterRole/-/all-groups", everything + CSR),
        ("rbac-no-service-status-write", "ClusterRole/-/all-groups", everything + SERVICE_STATUS),
    ]
    # the core group alone holds services/status, not the admission or certificates groups
    assert [p for p, _, _ in all_rbac_violations([EVERYTHING]) if p in REACH_RULES] == ["rbac-no-service-status-write"]


# --------------------------------------------------------------------------------------
# Passing: close look-alikes report nothing at all.
# --------------------------------------------------------------------------------------

LOOK_ALIKES: dict[str, Callable[[], list[Resource]]] = {
    # how Kubernetes documents adding a CRD to view (cert-manager labels its reader into all three)
    "crd-reads-aggregated": lambda: [
        labelled(
            cluster_role("cert-view", rule(["get", "list", "watch"], ["certificates", "issuers"], ["cert-manager.io"])),
            aggregate("admin", "edit", "view"),
        )
    ],
    "status-and-log-reads-into-view": lambda: [
        labelled(cluster_role("status-view", rule(["get"], ["pods/log", "services/status"])), aggregate("view"))
    ],
    "label-not-true": lambda: [
        labelled(
            cluster_role("db-edit", rule(["create"], ["databases"], ["db.example.com"])),
            {"rbac.authorization.k8s.io/aggregate-to-edit": "false"},
        )
    ],
    "another-aggregation-label": lambda: [
        labelled(
            cluster_role("db-edit", rule(["create"], ["databases"], ["db.example.com"])),
            {"azora.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-monitoring": "true"},
        )
    ],
    # aggregation selects ClusterRoles only
    "a-namespaced-role-is-never-aggregated": lambda: [
        labelled(role("db-edit", rule(["create"], ["databases"], ["db.example.com"])), aggregate("edit"))
    ],
    "kubernetes-own-aggregated-role": lambda: [
        labelled(
            cluster_role("system:aggregate-to-edit", rule(["create", "delete"], ["configmaps"])), aggregate("edit")
        )
    ],
    "exempted-aggregated-role": lambda: [
        labelled(
            cluster_role(
                "cert-edit",
                rule(["create"], ["certificates"], ["cert-manager.io"]),
                **exempt("rbac-no-aggregate-to-builtin", "cert-manager's documented edit role"),
            ),
            aggregate("edit"),
        )
    ],
    "reads-of-webhook-configurations": lambda: [
        cluster_role("webhook-reader", rule(["get", "list", "watch"], ["validatingwebhookconfigurations"], [ADMISSION]))
    ],
    "webhook-names-in-another-group": lambda: [
        cluster_role("odd", rule(["update"], ["mutatingwebhookconfigurations"], ["example.com"]))
    ],
    "admission-policy-status": lambda: [
        cluster_role("type-checker", rule(["update", "patch"], ["validatingadmissionpolicies/status"], [ADMISSION]))
    ],
    "exempted-ca-injector": lambda: [
        cluster_role(
            "cainjector",
            rule(["update", "patch"], ["mutatingwebhookconfigurations"], [ADMISSION]),
            **exempt("rbac-no-webhook-write", "injects the CA bundle into cert-manager's webhooks"),
        ),
        cluster_binding("cainjector", "cainjector", sa("cert-manager-cainjector", "cert-manager")),
    ],
    # approving for a signer of its own domain issues certificates only that signer's clients trust
    "approve-own-signers": lambda: [
        cluster_role(
            "issuer-approver",
            rule(["update"], ["certificatesigningrequests/approval"], [CERTIFICATES]),
            rule(["approve"], ["signers"], [CERTIFICATES], resourceNames=["issuers.example.com/*"]),
        )
    ],
    "approval-alone-approves-nothing": lambda: [
        cluster_role("half-approver", rule(["update"], ["certificatesigningrequests/approval"], [CERTIFICATES]))
    ],
    "request-not-approve": lambda: [
        cluster_role("requester", rule(["create", "get"], ["certificatesigningrequests"], [CERTIFICATES]))
    ],
    "sign-not-approve": lambda: [
        cluster_role("signer", rule(["sign"], ["signers"], [CERTIFICATES], resourceNames=["example.com/signer"]))
    ],
    "read-service-status": lambda: [
        role("svc-reader", rule(["get", "list", "watch"], ["services", "services/status"]))
    ],
    "write-services-not-status": lambda: [role("svc-writer", rule(["update", "patch"], ["services"]))],
    "write-other-status": lambda: [
        role("status-writer", rule(["update", "patch"], ["*/status"], ["apps"]), rule(["update"], ["pods/status"]))
    ],
    "exempted-load-balancer": lambda: [
        cluster_role(
            "lb-controller",
            rule(["update"], ["services/status"]),
            **exempt("rbac-no-service-status-write", "MetalLB assigns LoadBalancer IPs"),
        )
    ],
}


@pytest.mark.parametrize("resources", list(LOOK_ALIKES.values()), ids=list(LOOK_ALIKES))
def test_look_alikes_pass_every_rule(resources: Callable[[], list[Resource]]) -> None:
    assert evaluate(resources()) == []


def test_an_aggregated_role_is_judged_by_its_first_grant_beyond_reading() -> None:
    # one finding per role: the fix is the label, not the grants
    mixed = labelled(
        cluster_role(
            "mixed",
            rule(["get", "list"], ["databases"], ["db.example.com"]),
            rule(["create"], ["databases"], ["db.example.com"]),
            rule(["delete"], ["backups"], ["db.example.com"]),
        ),
        aggregate("edit"),
    )
    assert all_rbac_violations([mixed]) == [
        (
            "rbac-no-aggregate-to-builtin",
            "ClusterRole/-/mixed",
            EDIT + ', so rules[1] grants verbs ["create"] on resources ["databases"]' + TO_EDIT,
        )
    ]


def test_an_exec_role_aggregated_into_view_is_reported_by_both_families() -> None:
    shell = labelled(cluster_role("shell", rule(["get"], ["pods/exec"])), aggregate("view"))
    assert all_rbac_violations([shell]) == [
        (
            "rbac-no-exec-attach",
            "ClusterRole/-/shell",
            'rules[0] grants verbs ["get"] on resources ["pods/exec"]' + EXEC,
        ),
        (
            "rbac-no-aggregate-to-builtin",
            "ClusterRole/-/shell",
            VIEW + ', so rules[0] grants verbs ["get"] on resources ["pods/exec"]' + TO_VIEW,
        ),
    ]


# --------------------------------------------------------------------------------------
# Unknown labels during preview, and levels.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "path"),
    [
        (UNKNOWN, "metadata.labels"),
        (
            {"rbac.authorization.k8s.io/aggregate-to-view": UNKNOWN},
            'metadata.labels["rbac.authorization.k8s.io/aggregate-to-view"]',
        ),
    ],
    ids=["labels", "one-label"],
)
def test_unknown_aggregation_labels_are_named_not_passed(labels: object, path: str) -> None:
    reader = labelled(cluster_role("reader", rule(["create"], ["databases"], ["db.example.com"])), labels)
    found = [(v.policy, v.enforcement, v.resource, v.message) for v in evaluate([reader])]
    assert found == [
        (
            "rbac-no-aggregate-to-builtin",
            "advisory",
            "ClusterRole/-/reader",
            UNCHECKED_PREFIX + f"{path} is not known during preview; it is checked again on update",
        )
    ]


def test_levels_are_as_documented() -> None:
    assert {rule.name: rule.enforcement for rule in rbac_reach.RULES} == dict.fromkeys(REACH_RULES, "advisory")
    assert all(rule.stack and rule.why and rule.fix for rule in rbac_reach.RULES)
    found = evaluate([ALL_GROUPS], parse_settings({"rbac-no-webhook-write": "mandatory"}))
    assert {(v.policy, v.enforcement) for v in found if v.policy in REACH_RULES} == {
        ("rbac-no-webhook-write", "mandatory"),
        ("rbac-no-csr-approve", "advisory"),
        ("rbac-no-service-status-write", "advisory"),
    }
