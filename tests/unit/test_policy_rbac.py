"""The RBAC rules (`policy/rules/rbac.py`) through the real engine, the CrossGuard glue and the CLI.

Every rule has failing cases, each with the exact violations it must produce (a binding's
message names the binding and the role), and close look-alikes that must produce none: `get`
on pods/log rather than pods/exec, `list` on configmaps rather than secrets, `system:`
subjects and roles, resourceNames. The local stack's real Role and RoleBinding (the embedded
Prometheus's pod discovery) pass, and break as soon as they grant more.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs
from pulumi_policy import proxy as sdk_proxy
from typer.testing import CliRunner

from azora.cli import app
from policy.adapters import sdk_policies
from policy.rules import rbac
from policy.rules.catalog import BY_NAME
from policy.rules.engine import UNCHECKED_PREFIX, evaluate
from policy.rules.exemptions import EXEMPT_ANNOTATION
from policy.rules.model import UNKNOWN, Resource
from policy.rules.settings import parse_settings
from tests.conftest import mocked_stack
from tests.unit.test_stacks_pass_policy import policy_resources

RBAC_RULES = [rule.name for rule in rbac.RULES]
TOKEN = "kubernetes:rbac.authorization.k8s.io/v1:"
NS = "shop"
AZORA = Path(sys.executable).parent / "azora"

# --------------------------------------------------------------------------------------
# Builders: plain objects as a manifest (or a preview) carries them.
# --------------------------------------------------------------------------------------


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"apiGroups": [""] if groups is None else groups, "resources": resources, "verbs": verbs, **extra}


def _meta(name: str, namespace: str | None, annotations: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def role(name: str, *rules: dict[str, Any], namespace: str = NS, **annotations: str) -> Resource:
    props = {"metadata": _meta(name, namespace, annotations), "rules": list(rules)}
    return Resource(TOKEN + "Role", props, name)


def cluster_role(name: str, *rules: dict[str, Any], **annotations: str) -> Resource:
    props = {"metadata": _meta(name, None, annotations), "rules": list(rules)}
    return Resource(TOKEN + "ClusterRole", props, name)


def sa(name: str = "deployer", namespace: str = "ci") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def _binding(kind: str, name: str, namespace: str | None, ref: tuple[str, str], subjects: Any, **ann: str) -> Resource:
    props = {
        "metadata": _meta(name, namespace, ann),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref[0], "name": ref[1]},
        "subjects": subjects,
    }
    return Resource(TOKEN + kind, props, name)


def binding(name: str, ref: tuple[str, str], *subjects: dict[str, str], namespace: str = NS, **ann: str) -> Resource:
    return _binding("RoleBinding", name, namespace, ref, list(subjects) or [sa()], **ann)


def cluster_binding(name: str, ref_name: str, *subjects: dict[str, str], **ann: str) -> Resource:
    return _binding("ClusterRoleBinding", name, None, ("ClusterRole", ref_name), list(subjects) or [sa()], **ann)


def exempt(rule_name: str, reason: str = "the break-glass role on-call uses, reviewed in SEC-12") -> dict[str, str]:
    return {EXEMPT_ANNOTATION: f"{rule_name}: {reason}"}


def rbac_violations(resources: list[Resource], settings: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(policy, resource, message) of every violation an RBAC rule reports, in catalog order."""
    found = evaluate(resources, parse_settings(settings) if settings is not None else None)
    return [(v.policy, v.resource, v.message) for v in found if v.policy in RBAC_RULES]


def levels(resources: list[Resource]) -> dict[str, str]:
    return {v.policy: v.enforcement for v in evaluate(resources) if v.policy in RBAC_RULES}


# The messages' fixed parts, as a reviewer reads them.
WILDCARD_FIX = "; bind a role that lists only the verbs, resources and apiGroups it needs"
EXEC = ": exec and attach run commands in the pods, with their Secrets and tokens; remove pods/exec and pods/attach"
ESCALATION = (
    ": escalate, bind and impersonate get around RBAC's privilege-escalation checks; remove them, or limit bind "
    "and escalate with resourceNames to the roles it may hand out"
)
SECRETS = (
    ": it reads every Secret in its scope, service account tokens included; name the Secrets it needs in resourceNames"
)
WORKLOADS = (
    ": a new pod can run as any ServiceAccount and mount any Secret of its namespace; leave workload creation "
    "to the deployer, or exempt the role with the reason"
)
UNKNOWN_ROLE = (
    ", which is not in this stack, so what it grants cannot be checked; define the role in the stack, or exempt "
    "the binding with the reason it is safe"
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


EVERYTHING = cluster_role("everything", rule(["*"], ["*"]))

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
        "rbac-no-secret-read": "advisory",
        "rbac-no-workload-create": "advisory",
    }
    assert all(rule.stack and rule.why and rule.fix for rule in rbac.RULES)
    assert levels([EVERYTHING, cluster_binding("ci-deployer", "everything"), binding("x", ("Role", "gone"))]) == {
        "rbac-no-cluster-admin-binding": "mandatory",
        "rbac-binding-role-known": "advisory",
        "rbac-no-exec-attach": "mandatory",
        "rbac-no-escalation-verbs": "mandatory",
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
    "binding-without-subjects": lambda: [_binding("RoleBinding", "nobody", NS, ("ClusterRole", "cluster-admin"), [])],
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
    resources = [EVERYTHING, _binding("ClusterRoleBinding", "ci", None, ("ClusterRole", UNKNOWN), [sa()])]  # type: ignore[arg-type]
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
        ("rbac-no-secret-read", "advisory", unknown),
        ("rbac-no-workload-create", "advisory", unknown),
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
    wrong = _binding("ClusterRoleBinding", "wrong", None, ("Role", "reader"), [sa()])
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


# --------------------------------------------------------------------------------------
# The real stacks: the embedded Prometheus's Role and RoleBinding pass, and are really checked.
# --------------------------------------------------------------------------------------


def _local_rbac() -> list[Resource]:
    resources = policy_resources(mocked_stack("local"))
    found = [r for r in resources if r.type.startswith(TOKEN)]
    assert sorted(r.kind for r in found) == ["Role", "RoleBinding"]
    return resources


def test_the_local_stack_rbac_passes_every_rbac_rule() -> None:
    assert rbac_violations(_local_rbac()) == []


def test_the_local_stack_rbac_is_really_checked() -> None:
    resources = _local_rbac()
    discovery = next(r for r in resources if r.type == TOKEN + "Role")
    rules = [*discovery.props["rules"], rule(["get"], ["pods/exec"])]
    broken = [Resource(r.type, {**r.props, "rules": rules}, r.name) if r is discovery else r for r in resources]
    assert rbac_violations(broken) == [
        ("rbac-no-exec-attach", discovery.display, 'rules[1] grants verbs ["get"] on resources ["pods/exec"]' + EXEC)
    ]


# --------------------------------------------------------------------------------------
# CrossGuard: the SDK policies see RBAC objects as a preview sends them.
# --------------------------------------------------------------------------------------


def _stack_args(resources: list[Resource]) -> StackValidationArgs:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return StackValidationArgs(
        [
            PolicyResource(
                r.type,
                sdk_proxy.unknown_checking_proxy(
                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": r.kind, **r.props}
                ),
                f"urn:pulumi:production::azora::{r.type}::{r.name}",
                r.name,
                options,
                None,
                None,
                [],
                {},
            )
            for r in resources
        ],
        None,
    )


def test_crossguard_reports_a_cluster_admin_binding_with_its_urn() -> None:
    policies = {policy.name: policy for policy in sdk_policies()}
    assert set(RBAC_RULES) <= set(policies)
    reports: list[tuple[str, str | None]] = []
    admin = cluster_binding("ci-deployer", "cluster-admin")
    policies["rbac-no-cluster-admin-binding"].validate(
        _stack_args([admin]), lambda message, urn=None: reports.append((message, urn))
    )
    assert reports == [
        (
            "ClusterRoleBinding/-/ci-deployer: ClusterRoleBinding ci-deployer binds ClusterRole cluster-admin (the "
            'built-in role grants verbs ["*"] on resources ["*"] in apiGroups ["*"]) to ServiceAccount ci/deployer'
            + WILDCARD_FIX,
            f"urn:pulumi:production::azora::{TOKEN}ClusterRoleBinding::ci-deployer",
        )
    ]
    assert BY_NAME["rbac-no-cluster-admin-binding"].enforcement == "mandatory"


def test_crossguard_passes_the_embedded_prometheus_rbac() -> None:
    rbac_objects = [r for r in _local_rbac() if r.type.startswith(TOKEN)]
    reports: list[str] = []
    for policy in sdk_policies():
        if policy.name in RBAC_RULES:
            policy.validate(_stack_args(rbac_objects), lambda message, urn=None: reports.append(message))
    assert reports == []


# --------------------------------------------------------------------------------------
# `azora policy check` on a manifest file.
# --------------------------------------------------------------------------------------

CLUSTER_ADMIN_YAML = textwrap.dedent(
    """\
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata:
      name: ci-deployer
    roleRef:
      apiGroup: rbac.authorization.k8s.io
      kind: ClusterRole
      name: cluster-admin
    subjects:
      - kind: ServiceAccount
        name: deployer
        namespace: ci
    """
)
CLI_MESSAGE = (
    "ClusterRoleBinding ci-deployer binds ClusterRole cluster-admin (the built-in role grants verbs "
    '["*"] on resources ["*"] in apiGroups ["*"]) to ServiceAccount ci/deployer' + WILDCARD_FIX
)


def test_policy_check_fails_a_cluster_admin_binding(tmp_path: Path) -> None:
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(CLUSTER_ADMIN_YAML)
    human = CliRunner().invoke(app, ["policy", "check", str(manifest)])
    assert human.exit_code == 1, human.output
    assert human.stdout.splitlines() == [
        f"mandatory rbac-no-cluster-admin-binding  ClusterRoleBinding/-/ci-deployer: {CLI_MESSAGE}",
        "1 resources, 1 mandatory and 0 advisory violations",
    ]
    as_json = CliRunner().invoke(app, ["policy", "check", "--json", str(manifest)])
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert (document["violations"], document["resources"]) == (
        [
            {
                "policy": "rbac-no-cluster-admin-binding",
                "enforcement": "mandatory",
                "resource": "ClusterRoleBinding/-/ci-deployer",
                "message": CLI_MESSAGE,
            }
        ],
        1,
    )


def test_policy_check_console_script_on_rbac(tmp_path: Path) -> None:
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(CLUSTER_ADMIN_YAML)
    bad = subprocess.run([str(AZORA), "policy", "check", str(manifest)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stderr
    assert CLI_MESSAGE in bad.stdout
    # The same binding to the read-only built-in passes.
    manifest.write_text(CLUSTER_ADMIN_YAML.replace("name: cluster-admin", "name: view"))
    good = subprocess.run([str(AZORA), "policy", "check", str(manifest)], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip() == "1 resources, 0 mandatory and 0 advisory violations"
