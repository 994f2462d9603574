"""The RBAC rules (`policy/rules/rbac.py`) through the real engine: failing cases.

Every rule has failing cases, each with the exact violations it must produce (a binding's
message names the binding and the role). The close look-alikes that must produce none, the
lookups, and the RBAC objects of the real stacks, the CrossGuard glue and the CLI are in
test_policy_rbac_passing.py and test_policy_rbac_sources.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from policy.rules import rbac
from policy.rules.model import Resource
from tests.unit.rbac_support import (
    ESCALATION,
    EVERYTHING,
    EXEC,
    NODE_PROXY,
    RBAC_RULES,
    SECRETS,
    TOKEN,
    UNKNOWN_ROLE,
    WILDCARD_FIX,
    WORKLOADS,
    binding,
    cluster_binding,
    cluster_role,
    group,
    levels,
    rbac_violations,
    role,
    rule,
    user,
)

# --------------------------------------------------------------------------------------
# Failing: each case lists exactly the RBAC violations it must produce.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RbacCase:
    rule: str  # the rule the case is about (other RBAC rules may fire too: `expected` says)
    id: str
    resources: Callable[[], list[Resource]]
    expected: list[tuple[str, str, str]]  # (policy, resource, message)

    @property
    def param(self) -> Any:
        return pytest.param(self, id=f"{self.rule}:{self.id}")


CASES = [
    RbacCase(
        "rbac-no-cluster-admin-binding",
        "wildcard-role-in-the-stack",
        lambda: [EVERYTHING, cluster_binding("ci-deployer", "everything")],
        [
            (
                "rbac-no-cluster-admin-binding",
                "ClusterRoleBinding/-/ci-deployer",
                'ClusterRoleBinding ci-deployer binds ClusterRole everything (rules[0] grants verbs ["*"] on '
                'resources ["*"]) to ServiceAccount ci/deployer' + WILDCARD_FIX,
            ),
            # The role itself grants all of these too; those findings sit on the role.
            (
                "rbac-no-exec-attach",
                "ClusterRole/-/everything",
                'rules[0] grants verbs ["*"] on resources ["*"]' + EXEC,
            ),
            (
                "rbac-no-escalation-verbs",
                "ClusterRole/-/everything",
                'rules[0] grants verbs ["*"] on resources ["*"]' + ESCALATION,
            ),
            (
                "rbac-no-node-proxy",
                "ClusterRole/-/everything",
                'rules[0] grants verbs ["*"] on resources ["*"]' + NODE_PROXY,
            ),
            (
                "rbac-no-secret-read",
                "ClusterRole/-/everything",
                'rules[0] grants verbs ["*"] on resources ["*"]' + SECRETS,
            ),
            (
                "rbac-no-workload-create",
                "ClusterRole/-/everything",
                'rules[0] grants verbs ["*"] on resources ["*"]' + WORKLOADS,
            ),
        ],
    ),
    RbacCase(
        "rbac-no-cluster-admin-binding",
        "cluster-admin",
        lambda: [cluster_binding("oncall", "cluster-admin", user("alice"), group("sre"))],
        [
            (
                "rbac-no-cluster-admin-binding",
                "ClusterRoleBinding/-/oncall",
                "ClusterRoleBinding oncall binds ClusterRole cluster-admin (the built-in role grants verbs "
                '["*"] on resources ["*"] in apiGroups ["*"]) to User alice, Group sre' + WILDCARD_FIX,
            )
        ],
    ),
    RbacCase(
        "rbac-no-cluster-admin-binding",
        "cluster-admin-in-a-namespace",
        lambda: [binding("ci", ("ClusterRole", "cluster-admin"))],
        [
            (
                "rbac-no-cluster-admin-binding",
                "RoleBinding/shop/ci",
                "RoleBinding shop/ci binds ClusterRole cluster-admin (the built-in role grants verbs "
                '["*"] on resources ["*"] in apiGroups ["*"]) to ServiceAccount ci/deployer' + WILDCARD_FIX,
            )
        ],
    ),
    RbacCase(
        "rbac-no-cluster-admin-binding",
        "wildcard-api-groups-only",
        lambda: [
            cluster_role("lister", rule(["list"], ["deployments"], ["*"])),
            cluster_binding("lister", "lister", group("devs")),
        ],
        [
            (
                "rbac-no-cluster-admin-binding",
                "ClusterRoleBinding/-/lister",
                "ClusterRoleBinding lister binds ClusterRole lister (rules[0] grants verbs "
                '["list"] on resources ["deployments"] in apiGroups ["*"]) to Group devs' + WILDCARD_FIX,
            )
        ],
    ),
    RbacCase(
        # system: names that stand for everyone are never exempt.
        "rbac-no-cluster-admin-binding",
        "every-authenticated-user",
        lambda: [cluster_binding("open", "cluster-admin", group("system:masters"), group("system:authenticated"))],
        [
            (
                "rbac-no-cluster-admin-binding",
                "ClusterRoleBinding/-/open",
                "ClusterRoleBinding open binds ClusterRole cluster-admin (the built-in role grants verbs "
                '["*"] on resources ["*"] in apiGroups ["*"]) to Group system:masters, Group system:authenticated'
                + WILDCARD_FIX,
            )
        ],
    ),
    RbacCase(
        "rbac-no-cluster-admin-binding",
        "every-service-account-of-a-namespace",
        lambda: [cluster_binding("ci-all", "cluster-admin", group("system:serviceaccounts:ci"))],
        [
            (
                "rbac-no-cluster-admin-binding",
                "ClusterRoleBinding/-/ci-all",
                "ClusterRoleBinding ci-all binds ClusterRole cluster-admin (the built-in role grants verbs "
                '["*"] on resources ["*"] in apiGroups ["*"]) to Group system:serviceaccounts:ci' + WILDCARD_FIX,
            )
        ],
    ),
    RbacCase(
        "rbac-binding-role-known",
        "role-not-in-the-stack",
        lambda: [binding("ops", ("Role", "ops-tools"), user("bob"))],
        [
            (
                "rbac-binding-role-known",
                "RoleBinding/shop/ops",
                "RoleBinding shop/ops binds Role shop/ops-tools" + UNKNOWN_ROLE,
            )
        ],
    ),
    RbacCase(
        # A RoleBinding finds a Role in its own namespace only.
        "rbac-binding-role-known",
        "role-in-another-namespace",
        lambda: [role("reader", rule(["get"], ["pods"])), binding("reader", ("Role", "reader"), namespace="ops")],
        [
            (
                "rbac-binding-role-known",
                "RoleBinding/ops/reader",
                "RoleBinding ops/reader binds Role ops/reader" + UNKNOWN_ROLE,
            )
        ],
    ),
    RbacCase(
        "rbac-binding-role-known",
        "cluster-role-not-in-the-stack",
        lambda: [cluster_binding("ops", "ops-tools")],
        [
            (
                "rbac-binding-role-known",
                "ClusterRoleBinding/-/ops",
                "ClusterRoleBinding ops binds ClusterRole ops-tools" + UNKNOWN_ROLE,
            )
        ],
    ),
    RbacCase(
        "rbac-binding-role-known",
        "aggregated-cluster-role",
        lambda: [
            Resource(
                TOKEN + "ClusterRole",
                {
                    "metadata": {"name": "monitoring"},
                    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"azora.io/aggregate": "true"}}]},
                    "rules": [],
                },
                "monitoring",
            ),
            cluster_binding("monitoring", "monitoring"),
        ],
        [
            (
                "rbac-binding-role-known",
                "ClusterRoleBinding/-/monitoring",
                "ClusterRoleBinding monitoring binds ClusterRole monitoring, which aggregates the ClusterRoles its "
                "aggregationRule selects, so what it grants cannot be checked here; bind a role with its own rules",
            )
        ],
    ),
    RbacCase(
        "rbac-no-exec-attach",
        "create-pods-exec",
        lambda: [role("debugger", rule(["get"], ["pods"]), rule(["create"], ["pods/exec"]))],
        [
            (
                "rbac-no-exec-attach",
                "Role/shop/debugger",
                'rules[1] grants verbs ["create"] on resources ["pods/exec"]' + EXEC,
            )
        ],
    ),
    RbacCase(
        # Over WebSocket, attach and exec are `get` requests.
        "rbac-no-exec-attach",
        "get-pods-attach",
        lambda: [cluster_role("attacher", rule(["get"], ["pods/attach"]))],
        [
            (
                "rbac-no-exec-attach",
                "ClusterRole/-/attacher",
                'rules[0] grants verbs ["get"] on resources ["pods/attach"]' + EXEC,
            )
        ],
    ),
    RbacCase(
        "rbac-no-exec-attach",
        "exec-of-any-resource",
        lambda: [role("shell", rule(["create"], ["*/exec"]))],
        [("rbac-no-exec-attach", "Role/shop/shell", 'rules[0] grants verbs ["create"] on resources ["*/exec"]' + EXEC)],
    ),
    RbacCase(
        # A name narrows which pod, not what exec does in it.
        "rbac-no-exec-attach",
        "exec-into-a-named-pod",
        lambda: [role("db-shell", rule(["create"], ["pods/exec"], resourceNames=["postgresql-0"]))],
        [
            (
                "rbac-no-exec-attach",
                "Role/shop/db-shell",
                'rules[0] grants verbs ["create"] on resources ["pods/exec"] named ["postgresql-0"]' + EXEC,
            )
        ],
    ),
    RbacCase(
        # The built-in edit (and admin) can exec, read Secrets and create workloads.
        "rbac-no-exec-attach",
        "binding-to-built-in-edit",
        lambda: [binding("ci", ("ClusterRole", "edit"))],
        [
            (
                "rbac-no-exec-attach",
                "RoleBinding/shop/ci",
                "RoleBinding shop/ci binds ClusterRole edit (the built-in role grants verbs "
                '["create"] on resources ["pods/attach", "pods/exec"]) to ServiceAccount ci/deployer: exec and '
                "attach run commands in the pods, with their Secrets and tokens; bind a role without pods/exec and "
                "pods/attach",
            ),
            (
                "rbac-no-secret-read",
                "RoleBinding/shop/ci",
                "RoleBinding shop/ci binds ClusterRole edit (the built-in role grants verbs "
                '["get", "list", "watch"] on resources ["secrets"]) to ServiceAccount ci/deployer: it reads every '
                "Secret in its scope, service account tokens included; bind a role that names the Secrets it needs",
            ),
            (
                "rbac-no-workload-create",
                "RoleBinding/shop/ci",
                "RoleBinding shop/ci binds ClusterRole edit (the built-in role grants verbs "
                '["create"] on resources ["pods", "replicationcontrollers"]) to ServiceAccount ci/deployer: a new pod '
                "can run as any ServiceAccount and mount any Secret of its namespace; bind a role that does not create "
                "workloads, or exempt the binding with the reason",
            ),
        ],
    ),
    RbacCase(
        "rbac-no-escalation-verbs",
        "bind-cluster-roles",
        lambda: [cluster_role("binder", rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"]))],
        [
            (
                "rbac-no-escalation-verbs",
                "ClusterRole/-/binder",
                'rules[0] grants verbs ["bind"] on resources ["clusterroles"]' + ESCALATION,
            )
        ],
    ),
    RbacCase(
        "rbac-no-escalation-verbs",
        "escalate-roles",
        lambda: [role("role-writer", rule(["update", "escalate"], ["roles"], ["rbac.authorization.k8s.io"]))],
        [
            (
                "rbac-no-escalation-verbs",
                "Role/shop/role-writer",
                'rules[0] grants verbs ["update", "escalate"] on resources ["roles"]' + ESCALATION,
            )
        ],
    ),
    RbacCase(
        "rbac-no-escalation-verbs",
        "impersonate-service-accounts",
        lambda: [cluster_role("sudo", rule(["impersonate"], ["serviceaccounts"]))],
        [
            (
                "rbac-no-escalation-verbs",
                "ClusterRole/-/sudo",
                'rules[0] grants verbs ["impersonate"] on resources ["serviceaccounts"]' + ESCALATION,
            )
        ],
    ),
    RbacCase(
        "rbac-no-escalation-verbs",
        "every-verb-on-roles",
        lambda: [role("rbac-admin", rule(["*"], ["roles", "rolebindings"], ["rbac.authorization.k8s.io"]))],
        [
            (
                "rbac-no-escalation-verbs",
                "Role/shop/rbac-admin",
                'rules[0] grants verbs ["*"] on resources ["roles", "rolebindings"]' + ESCALATION,
            )
        ],
    ),
    RbacCase(
        # resourceNames limits bind, unless it names the role that is everything.
        "rbac-no-escalation-verbs",
        "bind-named-cluster-admin",
        lambda: [
            cluster_role(
                "binder",
                rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], resourceNames=["cluster-admin"]),
            )
        ],
        [
            (
                "rbac-no-escalation-verbs",
                "ClusterRole/-/binder",
                'rules[0] grants verbs ["bind"] on resources ["clusterroles"] named ["cluster-admin"]' + ESCALATION,
            )
        ],
    ),
    RbacCase(
        "rbac-no-secret-read",
        "list-secrets",
        lambda: [role("config-reader", rule(["list"], ["configmaps", "secrets"]))],
        [
            (
                "rbac-no-secret-read",
                "Role/shop/config-reader",
                'rules[0] grants verbs ["list"] on resources ["configmaps", "secrets"]' + SECRETS,
            )
        ],
    ),
    RbacCase(
        "rbac-no-secret-read",
        "watch-secrets-cluster-wide",
        lambda: [cluster_role("syncer", rule(["watch"], ["secrets"]))],
        [
            (
                "rbac-no-secret-read",
                "ClusterRole/-/syncer",
                'rules[0] grants verbs ["watch"] on resources ["secrets"]' + SECRETS,
            )
        ],
    ),
    RbacCase(
        "rbac-no-workload-create",
        "create-deployments",
        lambda: [role("deployer", rule(["get", "create", "patch"], ["deployments"], ["apps"]))],
        [
            (
                "rbac-no-workload-create",
                "Role/shop/deployer",
                'rules[0] grants verbs ["get", "create", "patch"] on resources ["deployments"]' + WORKLOADS,
            )
        ],
    ),
    RbacCase(
        "rbac-no-node-proxy",
        "metrics-through-the-proxy",  # an old Prometheus recipe: scrape cAdvisor via nodes/proxy
        lambda: [
            cluster_role("scraper", rule(["get", "list", "watch"], ["nodes", "nodes/proxy"])),
            cluster_binding("scraper", "scraper"),
        ],
        [
            (
                "rbac-no-node-proxy",
                "ClusterRole/-/scraper",
                'rules[0] grants verbs ["get", "list", "watch"] on resources ["nodes", "nodes/proxy"]' + NODE_PROXY,
            ),
        ],
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_rbac_rule_failing(case: RbacCase) -> None:
    assert rbac_violations(case.resources()) == case.expected
    assert case.rule in {policy for policy, _, _ in case.expected}


def test_every_rbac_rule_has_a_failing_case() -> None:
    assert {case.rule for case in CASES} == set(RBAC_RULES)


def test_levels_are_as_documented() -> None:
    assert {rule.name: rule.enforcement for rule in rbac.RULES} == {
        "rbac-no-cluster-admin-binding": "mandatory",
        "rbac-binding-role-known": "advisory",
        "rbac-no-exec-attach": "mandatory",
        "rbac-no-escalation-verbs": "mandatory",
        "rbac-no-node-proxy": "mandatory",
        "rbac-no-secret-read": "advisory",
        "rbac-no-workload-create": "advisory",
    }
    assert all(rule.stack and rule.why and rule.fix for rule in rbac.RULES)
    assert levels([EVERYTHING, cluster_binding("ci-deployer", "everything"), binding("x", ("Role", "gone"))]) == {
        "rbac-no-cluster-admin-binding": "mandatory",
        "rbac-binding-role-known": "advisory",
        "rbac-no-exec-attach": "mandatory",
        "rbac-no-escalation-verbs": "mandatory",
        "rbac-no-node-proxy": "mandatory",
        "rbac-no-secret-read": "advisory",
        "rbac-no-workload-create": "advisory",
    }


@pytest.mark.parametrize(
    ("groups", "resource"),
    [
        ([""], "pods"),
        ([""], "replicationcontrollers"),
        (["apps"], "deployments"),
        (["apps"], "statefulsets"),
        (["apps"], "daemonsets"),
        (["apps"], "replicasets"),
        (["batch"], "jobs"),
        (["batch"], "cronjobs"),
    ],
)
def test_creating_any_workload_kind_is_reported(groups: list[str], resource: str) -> None:
    assert rbac_violations([role("maker", rule(["create"], [resource], groups))]) == [
        (
            "rbac-no-workload-create",
            "Role/shop/maker",
            f'rules[0] grants verbs ["create"] on resources ["{resource}"]' + WORKLOADS,
        )
    ]


@pytest.mark.parametrize("verb", ["get", "list", "watch", "*"])
def test_every_read_verb_on_secrets_is_reported(verb: str) -> None:
    found = rbac_violations([role("reader", rule([verb], ["secrets"]))])
    assert (
        "rbac-no-secret-read",
        "Role/shop/reader",
        f'rules[0] grants verbs ["{verb}"] on resources ["secrets"]' + SECRETS,
    ) in found
