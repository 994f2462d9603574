"""RBAC rules: what Roles and ClusterRoles grant, and to whom their bindings give it.

- rbac-no-cluster-admin-binding: no binding grants cluster-admin or a role with `*` in it.
- rbac-binding-role-known: every binding's role can be checked (in the stack, or a known built-in).
- rbac-no-exec-attach: no role lets a subject exec or attach into pods.
- rbac-no-escalation-verbs: no role grants escalate, bind or impersonate.
- rbac-no-node-proxy: no role reaches the kubelet API through nodes/proxy.
- rbac-no-secret-read: no role reads every Secret of its scope (advisory).
- rbac-no-workload-create: no role creates pods or what makes pods (advisory).

All are stack rules: a binding is judged by the role it names (`policy.rules.rbac_grants`
resolves it and reads what each role grants, and says what is exempt). Findings on a role sit
on the role; findings on a binding name the binding and the role. The `azora.io/policy-exempt`
annotation exempts the role or binding it is on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from policy.rules.model import Finding, Options, Resource, Rule, StackCheck, get
from policy.rules.rbac_grants import (
    CLUSTER_ADMIN,
    ESCALATION_TARGETS,
    EXEC_RESOURCES,
    EXEC_VERBS,
    RBAC_GROUP,
    READ_VERBS,
    WORKLOAD_RESOURCES,
    Bound,
    Grant,
    bound_bindings,
    bound_grants,
    role_findings,
)

# --------------------------------------------------------------------------------------
# Binding rules
# --------------------------------------------------------------------------------------


def check_cluster_admin_binding(resources: list[Resource], options: Options) -> Iterator[Finding]:
    for bound in bound_bindings(resources):
        if isinstance(bound, Finding):
            yield bound
            continue
        grants, problems = bound_grants(bound)
        yield from problems
        for grant in grants:
            if grant.wildcard:
                yield Finding(
                    f"{bound.names(grant)}; bind a role that lists only the verbs, resources and apiGroups it needs",
                    resource=bound.binding,
                )
                break


def check_role_known(resources: list[Resource], options: Options) -> Iterator[Finding]:
    for bound in bound_bindings(resources):
        if isinstance(bound, Finding):
            yield bound
            continue
        binding = bound.binding
        if bound.role is None and bound.built_in is None:
            yield Finding(
                f"{bound.binding_label} binds {bound.role_label}, which is not in this stack, so what it grants "
                "cannot be checked; define the role in the stack, or exempt the binding with the reason it is safe",
                resource=binding,
            )
        elif bound.role is not None and get(bound.role.props, "aggregationRule") is not None:
            yield Finding(
                f"{bound.binding_label} binds {bound.role_label}, which aggregates the ClusterRoles its "
                "aggregationRule selects, so what it grants cannot be checked here; bind a role with its own rules",
                resource=binding,
            )


# --------------------------------------------------------------------------------------
# Role rules: a role in the stack that grants it, or a binding to a built-in role that does
# --------------------------------------------------------------------------------------


def _role_rule_check(grants_it: Callable[[Grant], bool], effect: str, role_fix: str, binding_fix: str) -> StackCheck:
    def check(resources: list[Resource], options: Options) -> Iterator[Finding]:
        yield from role_findings(resources, grants_it, effect, role_fix)
        # Roles outside the stack are rbac-binding-role-known's; cluster-admin is
        # rbac-no-cluster-admin-binding's. The other built-ins are judged here, on the binding.
        for bound in bound_bindings(resources):
            if not isinstance(bound, Bound) or not bound.built_in or bound.name == CLUSTER_ADMIN:
                continue
            first = next((grant for grant in bound.built_in if grants_it(grant)), None)
            if first is not None:
                yield Finding(f"{bound.names(first)}: {effect}; {binding_fix}", resource=bound.binding)

    return check


def grants_exec(grant: Grant) -> bool:
    # A name does not make exec safe: it still runs commands in that pod.
    return any(grant.allows(verb, "", resource) for verb in EXEC_VERBS for resource in EXEC_RESOURCES)


def grants_escalation(grant: Grant) -> bool:
    found = any(
        grant.allows(verb, RBAC_GROUP, resource)
        for verb in ("escalate", "bind")
        for resource in ("roles", "clusterroles")
    ) or any(grant.allows("impersonate", "", resource) for resource in ("users", "groups", "serviceaccounts"))
    return found and (grant.any_name or not ESCALATION_TARGETS.isdisjoint(grant.resource_names))


def grants_node_proxy(grant: Grant) -> bool:
    # The API server proxies nodes/proxy to the kubelet's whole API, /exec and /run included; the
    # kubelet authorizes those by the verb of the HTTP method alone (get for a WebSocket).
    return any(grant.allows(verb, "", "nodes/proxy") for verb in ("get", "create", "update", "patch", "delete", "*"))


def grants_secret_read(grant: Grant) -> bool:
    return grant.any_name and any(grant.allows(verb, "", "secrets") for verb in READ_VERBS)


def grants_workload_create(grant: Grant) -> bool:
    return grant.any_name and any(grant.allows("create", group, resource) for group, resource in WORKLOAD_RESOURCES)


RULES = [
    Rule(
        name="rbac-no-cluster-admin-binding",
        why=(
            "A wildcard grants everything the API has and will have: one leaked token of the subject owns the "
            "cluster (or, through a RoleBinding, the namespace, its Secrets and its RBAC)."
        ),
        fix="Bind a role that lists the verbs, resources and apiGroups the subject needs.",
        description=(
            "No RoleBinding or ClusterRoleBinding binds cluster-admin, or a role with `*` in its resources or "
            "apiGroups (`*` verbs on named resources are judged by the rules on what they reach)."
        ),
        enforcement="mandatory",
        check=check_cluster_admin_binding,
        stack=True,
    ),
    Rule(
        name="rbac-binding-role-known",
        why=(
            "A role defined outside the stack can grant anything, and the other RBAC rules cannot see it. "
            "Advisory: binding a role another team owns is legitimate, but someone has to look at it."
        ),
        fix="Define the role in the stack, or exempt the binding with the reason the role is safe.",
        description=(
            "Every binding names a role in the stack or a known built-in (cluster-admin, admin, edit, view), "
            "so what it grants can be checked."
        ),
        enforcement="advisory",
        check=check_role_known,
        stack=True,
    ),
    Rule(
        name="rbac-no-exec-attach",
        why=(
            "Exec and attach run commands inside running pods, past admission control, with their Secrets, "
            "tokens and network; before Kubernetes 1.35 `get` alone allows exec over WebSocket. Mandatory: no "
            "service needs it to run."
        ),
        fix="Remove pods/exec and pods/attach; exempt a break-glass role with the reason.",
        description=(
            "No role grants create or get on pods/exec or pods/attach, and no binding hands out the built-in "
            "admin or edit, which do."
        ),
        enforcement="mandatory",
        check=_role_rule_check(
            grants_exec,
            "exec and attach run commands in the pods, with their Secrets and tokens",
            "remove pods/exec and pods/attach",
            "bind a role without pods/exec and pods/attach",
        ),
        stack=True,
    ),
    Rule(
        name="rbac-no-escalation-verbs",
        why=(
            "escalate, bind and impersonate are the exceptions to RBAC's own privilege-escalation checks; each "
            "reaches cluster-admin in one step. Mandatory: only the cluster's own controllers need them."
        ),
        fix=(
            "Remove them; to let a deployer bind a few roles, grant `bind` with `resourceNames` naming those roles "
            "(never cluster-admin)."
        ),
        description=(
            "No role grants escalate or bind on roles, or impersonate on users, groups or service accounts, unless "
            "resourceNames limits it to names other than cluster-admin and system:masters."
        ),
        enforcement="mandatory",
        check=_role_rule_check(
            grants_escalation,
            "escalate, bind and impersonate get around RBAC's privilege-escalation checks",
            "remove them, or limit bind and escalate with resourceNames to the roles it may hand out",
            "bind a role without escalate, bind and impersonate",
        ),
        stack=True,
    ),
    Rule(
        name="rbac-no-node-proxy",
        why=(
            "nodes/proxy reaches the kubelet's API on every node, where exec and run need only that grant: a "
            "subject holding it runs commands in any pod of the cluster, past admission and audit of pods/exec. "
            "Mandatory: metrics need nodes/metrics, not the proxy."
        ),
        fix="Grant nodes/metrics or nodes/stats for metrics; exempt a break-glass role with the reason.",
        description="No role grants any verb on nodes/proxy (the kubelet API, exec in any pod included).",
        enforcement="mandatory",
        check=_role_rule_check(
            grants_node_proxy,
            "nodes/proxy reaches every kubelet's API, exec in any pod of the node included",
            "grant nodes/metrics or nodes/stats instead",
            "bind a role without nodes/proxy",
        ),
        stack=True,
    ),
    Rule(
        name="rbac-no-secret-read",
        why=(
            "get, list and watch return Secrets' data, service account tokens included. Advisory: ingress "
            "controllers, cert-manager and dashboard sidecars read Secrets by design; each grant deserves a look, "
            "not a block."
        ),
        fix="Name the Secrets it needs in `resourceNames`, or exempt the role with the reason it reads them.",
        description=(
            "No role grants get, list or watch on every Secret in its scope (naming them in resourceNames is fine)."
        ),
        enforcement="advisory",
        check=_role_rule_check(
            grants_secret_read,
            "it reads every Secret in its scope, service account tokens included",
            "name the Secrets it needs in resourceNames",
            "bind a role that names the Secrets it needs",
        ),
        stack=True,
    ),
    Rule(
        name="rbac-no-workload-create",
        why=(
            "A new pod can run as any ServiceAccount of its namespace and mount any of its Secrets, so creating "
            "pods, or what makes pods, reaches all of them. Advisory: CI deployers and operators create workloads "
            "by design."
        ),
        fix="Leave workload creation to the deployer and operators; exempt their roles with the reason.",
        description=(
            "No role grants create on pods or on what makes pods (Deployments, StatefulSets, DaemonSets, Jobs, "
            "CronJobs, ReplicaSets, ReplicationControllers)."
        ),
        enforcement="advisory",
        check=_role_rule_check(
            grants_workload_create,
            "a new pod can run as any ServiceAccount and mount any Secret of its namespace",
            "leave workload creation to the deployer, or exempt the role with the reason",
            "bind a role that does not create workloads, or exempt the binding with the reason",
        ),
        stack=True,
    ),
]
