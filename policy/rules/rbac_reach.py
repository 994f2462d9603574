"""RBAC reach the RBAC rules (`policy.rules.rbac`) do not see: roles that widen the built-in
roles, and grants over the cluster's admission, certificates and Service traffic.

- rbac-no-aggregate-to-builtin: no ClusterRole adds more than plain reads to the built-in admin, edit or view.
- rbac-no-webhook-write: no role writes admission webhook configurations or admission policies.
- rbac-no-csr-approve: no role approves certificates for every signer or a built-in kubernetes.io signer.
- rbac-no-service-status-write: no role writes services/status (CVE-2020-8554).

All are advisory: cert-manager's CA injector patches webhook configurations, CSR approvers and
load-balancer controllers exist to do exactly this, and an operator adds its CRDs to the built-in
roles by aggregation. Each such role deserves a look and an exemption with the reason, not a block.
Like the RBAC rules they are stack rules that judge every role in the set except `system:` ones,
whether or not a binding in the set binds it, and the `azora.io/policy-exempt` annotation exempts
the role it is on. No binding is judged here: the built-in admin, edit and view grant none of
this, and cluster-admin is rbac-no-cluster-admin-binding's.

Decisions:
- Aggregation: only the label value "true" counts (the built-in roles' selectors match it), and
  only on a ClusterRole (aggregation never selects a Role). A role that only *reads* plain data
  passes, whatever it is aggregated into: get, list and watch, with no `*` in its apiGroups or
  resources, on neither Secrets nor the subresources where get does more than read (exec,
  attach, portforward, proxy). That is how Kubernetes documents adding a CRD to `view`, and since
  `view` is itself aggregated into `edit` and `edit` into `admin`, a read aggregated into any of
  them reaches no one `view` would not. Everything else is reported once per role, at its first
  grant beyond that. An aggregated role that itself aggregates (an aggregationRule) is reported
  too: what it passes on cannot be read here.
- Webhooks: create, update, patch, delete, deletecollection and `*` on the webhook
  configurations, and on validating and mutating admission policies and their bindings, which
  refuse or rewrite requests as webhooks do. resourceNames does not make it safe: updating one
  named configuration can point it at any URL and widen its rules to every object.
- Certificates: which certificates can be approved is decided by `approve` on `signers`; update
  on certificatesigningrequests/approval is the gate every approver also passes, and on its own
  approves nothing. So the rule judges the signer grant: `approve` on every signer, or on one of
  the built-in `kubernetes.io/` signers (client certificates for any user and group,
  system:masters included; kubelet identities). A grant limited to the signers of its own domain
  (`example.com/*`) passes: what those certificates are trusted for is that signer's business.
- services/status: update and patch, whatever the names: one LoadBalancer Service the subject
  controls is enough to claim an ingress IP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, StackCheck, get
from policy.rules.rbac_grants import (
    RBAC_GROUP,
    READ_VERBS,
    Grant,
    checked_roles,
    role_findings,
    role_grants,
    unknown_about,
)

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
ADMISSION_GROUP = "admissionregistration.k8s.io"
ADMISSION_RESOURCES = (
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies",
    "mutatingadmissionpolicybindings",
)
CERTIFICATES_GROUP = "certificates.k8s.io"
BUILT_IN_SIGNERS = "kubernetes.io/"
# Subresources where `get` does more than read: it runs commands or opens connections to pods and nodes.
GET_REACHES = frozenset({"exec", "attach", "portforward", "proxy"})
# Each aggregation label and the built-in roles it reaches (view is aggregated into edit, edit into admin).
AGGREGATE_LABELS = {
    f"{RBAC_GROUP}/aggregate-to-admin": ("admin",),
    f"{RBAC_GROUP}/aggregate-to-edit": ("admin", "edit"),
    f"{RBAC_GROUP}/aggregate-to-view": ("admin", "edit", "view"),
}
BUILT_IN_ORDER = ("admin", "edit", "view")


def _role_check(grants_it: Callable[[Grant], bool], effect: str, fix: str) -> StackCheck:
    def check(resources: list[Resource], options: Options) -> Iterator[Finding]:
        return role_findings(resources, grants_it, effect, fix)

    return check


# --------------------------------------------------------------------------------------
# Aggregation into the built-in roles
# --------------------------------------------------------------------------------------


def aggregation_labels(role: Resource) -> list[str] | Finding:
    """The aggregate-to-<role> labels the role sets to "true", or the Finding that they are unknown."""
    if get(role.props, "metadata", "labels") is UNKNOWN:
        return unknown_about(role, "metadata.labels")
    found = []
    for key in AGGREGATE_LABELS:
        value = role.labels.get(key)
        if value is UNKNOWN:
            return unknown_about(role, f'metadata.labels["{key}"]')
        if value == "true":
            found.append(key)
    return found


def reads_plain_data(grant: Grant) -> bool:
    """Only get, list and watch, on named resources and groups, none of them Secrets or a
    subresource where get does more than read."""
    return (
        set(grant.verbs) <= set(READ_VERBS)
        and "*" not in (*grant.api_groups, *grant.resources)
        and not any(resource == "secrets" or resource.partition("/")[2] in GET_REACHES for resource in grant.resources)
    )


def _reach(labels: list[str]) -> str:
    """`admin or edit`: every built-in role the labels add the role's rules to."""
    targets = {target for label in labels for target in AGGREGATE_LABELS[label]}
    ordered = [target for target in BUILT_IN_ORDER if target in targets]
    return ", ".join(ordered[:-1]) + " or " + ordered[-1] if len(ordered) > 1 else ordered[0]


AGGREGATE_FIX = "remove the label and bind the role to the subjects that need it"


def check_aggregate_to_builtin(resources: list[Resource], options: Options) -> Iterator[Finding]:
    for role in checked_roles(resources):
        if role.kind != "ClusterRole":
            continue
        labels = aggregation_labels(role)
        if isinstance(labels, Finding):
            yield labels
            continue
        if not labels:
            continue
        sets = "metadata.labels sets " + " and ".join(f'{label}="true"' for label in labels)
        everyone = f"every subject bound to the built-in {_reach(labels)}"
        if get(role.props, "aggregationRule") is not None:
            yield Finding(
                f"{sets}, and its rules come from the ClusterRoles its aggregationRule selects, so what {everyone} "
                f"gets cannot be checked here; {AGGREGATE_FIX}",
                resource=role,
            )
            continue
        grants, problems = role_grants(role)
        yield from problems
        beyond = next((grant for grant in grants if not reads_plain_data(grant)), None)
        if beyond is not None:
            yield Finding(
                f"{sets}, so {beyond.describe()} to {everyone}, with no binding in this stack; {AGGREGATE_FIX}",
                resource=role,
            )


# --------------------------------------------------------------------------------------
# Admission, certificates, Service traffic
# --------------------------------------------------------------------------------------


def grants_admission_write(grant: Grant) -> bool:
    return any(
        grant.allows(verb, ADMISSION_GROUP, resource) for verb in WRITE_VERBS for resource in ADMISSION_RESOURCES
    )


def grants_csr_approve(grant: Grant) -> bool:
    reaches_built_in = grant.any_name or any(name.startswith(BUILT_IN_SIGNERS) for name in grant.resource_names)
    return reaches_built_in and grant.allows("approve", CERTIFICATES_GROUP, "signers")


def grants_service_status_write(grant: Grant) -> bool:
    return any(grant.allows(verb, "", "services/status") for verb in ("update", "patch"))


RULES = [
    Rule(
        name="rbac-no-aggregate-to-builtin",
        why=(
            "A ClusterRole labelled aggregate-to-admin, -edit or -view is merged into that built-in role, so every "
            "subject bound to it anywhere in the cluster gets its rules, with no binding in the stack to review. "
            "Advisory: operators add their CRDs to the built-in roles this way."
        ),
        fix=(
            "Remove the label and bind the role to the subjects that need it; exempt an operator's role with the "
            "reason."
        ),
        description=(
            "No ClusterRole labelled rbac.authorization.k8s.io/aggregate-to-admin, -edit or -view grants more than "
            "get, list and watch on named resources other than Secrets, exec, attach, portforward and proxy."
        ),
        enforcement="advisory",
        check=check_aggregate_to_builtin,
        stack=True,
    ),
    Rule(
        name="rbac-no-webhook-write",
        why=(
            "Admission webhooks and policies see, refuse or rewrite every request they match: whoever writes them "
            "decides what the cluster admits, and can route every Secret written through a server of their "
            "choosing. Advisory: cert-manager's CA injector patches webhook configurations by design."
        ),
        fix="Leave admission objects to the chart that installs them; exempt a CA injector's role with the reason.",
        description=(
            "No role grants create, update, patch, delete or deletecollection on validating or mutating webhook "
            "configurations, or on admission policies and their bindings."
        ),
        enforcement="advisory",
        check=_role_check(
            grants_admission_write,
            "writing admission webhooks or policies decides what the cluster admits and can rewrite what it admits",
            "remove the write verbs, or exempt the role with the reason (a CA injector patching caBundle)",
        ),
        stack=True,
    ),
    Rule(
        name="rbac-no-csr-approve",
        why=(
            "Approving a CertificateSigningRequest for a built-in kubernetes.io signer issues a client certificate "
            "for any user and group, system:masters included, or a kubelet's identity. Advisory: kubelet serving "
            "certificate approvers need it."
        ),
        fix=(
            "Limit approve on signers with resourceNames to the signers the approver serves; exempt a kubelet CSR "
            "approver with the reason."
        ),
        description=(
            "No role grants approve on every signer, or on a built-in kubernetes.io/ signer (certificates.k8s.io)."
        ),
        enforcement="advisory",
        check=_role_check(
            grants_csr_approve,
            "approving for the kubernetes.io signers issues certificates for any user and group, system:masters "
            "included, and for kubelets",
            "limit approve with resourceNames to the signers it serves, or exempt the role with the reason",
        ),
        stack=True,
    ),
    Rule(
        name="rbac-no-service-status-write",
        why=(
            "services/status holds a LoadBalancer's ingress IPs, and kube-proxy sends the cluster's traffic for "
            "those IPs to that Service, so writing it hijacks traffic to any IP (CVE-2020-8554). Advisory: "
            "load-balancer controllers need it."
        ),
        fix="Leave services/status to the load-balancer controller; exempt its role with the reason.",
        description="No role grants update or patch on services/status.",
        enforcement="advisory",
        check=_role_check(
            grants_service_status_write,
            "a LoadBalancer's status claims ingress IPs, and kube-proxy sends the cluster's traffic for them to that "
            "Service (CVE-2020-8554)",
            "leave services/status to the load-balancer controller, or exempt its role with the reason",
        ),
        stack=True,
    ),
]
