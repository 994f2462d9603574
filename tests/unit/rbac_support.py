"""Builders and message parts the RBAC rule tests share (tests/unit/test_policy_rbac*.py):
Roles, ClusterRoles and their bindings as a manifest or a preview carries them, and the RBAC
violations the real engine reports for a set of them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from policy.rules import rbac, rbac_reach
from policy.rules.engine import evaluate
from policy.rules.exemptions import EXEMPT_ANNOTATION
from policy.rules.model import Resource
from policy.rules.settings import parse_settings

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


def binding_of(
    kind: str, name: str, namespace: str | None, ref: tuple[str, str], subjects: Any, **ann: str
) -> Resource:
    props = {
        "metadata": _meta(name, namespace, ann),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref[0], "name": ref[1]},
        "subjects": subjects,
    }
    return Resource(TOKEN + kind, props, name)


def binding(name: str, ref: tuple[str, str], *subjects: dict[str, str], namespace: str = NS, **ann: str) -> Resource:
    return binding_of("RoleBinding", name, namespace, ref, list(subjects) or [sa()], **ann)


def cluster_binding(name: str, ref_name: str, *subjects: dict[str, str], **ann: str) -> Resource:
    return binding_of("ClusterRoleBinding", name, None, ("ClusterRole", ref_name), list(subjects) or [sa()], **ann)


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
NODE_PROXY = (
    ": nodes/proxy reaches every kubelet's API, exec in any pod of the node included; grant nodes/metrics or "
    "nodes/stats instead"
)
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


# A ClusterRole that grants everything (the failing cases bind it).
EVERYTHING = cluster_role("everything", rule(["*"], ["*"]))


# --------------------------------------------------------------------------------------
# The reach rules (`policy/rules/rbac_reach.py`, tests/unit/test_policy_rbac_reach.py).
# --------------------------------------------------------------------------------------

REACH_RULES = [rule.name for rule in rbac_reach.RULES]
ADMISSION = "admissionregistration.k8s.io"
CERTIFICATES = "certificates.k8s.io"


def aggregate(*targets: str) -> dict[str, str]:
    """The labels that aggregate a ClusterRole into the built-in roles named (admin, edit, view)."""
    return {f"rbac.authorization.k8s.io/aggregate-to-{target}": "true" for target in targets}


def labelled(resource: Resource, labels: Any) -> Resource:
    """The RBAC object with these labels on its metadata."""
    props = {**resource.props, "metadata": {**resource.props["metadata"], "labels": labels}}
    return Resource(resource.type, props, resource.name)


def all_rbac_violations(resources: list[Resource]) -> list[tuple[str, str, str]]:
    """(policy, resource, message) of every violation an RBAC or reach rule reports, in catalog order."""
    names = {*RBAC_RULES, *REACH_RULES}
    return [(v.policy, v.resource, v.message) for v in evaluate(resources) if v.policy in names]


AGGREGATE_FIX = "; remove the label and bind the role to the subjects that need it"
WEBHOOKS = (
    ": writing admission webhooks or policies decides what the cluster admits and can rewrite what it admits; "
    "remove the write verbs, or exempt the role with the reason (a CA injector patching caBundle)"
)
CSR = (
    ": approving for the kubernetes.io signers issues certificates for any user and group, system:masters included, "
    "and for kubelets; limit approve with resourceNames to the signers it serves, or exempt the role with the reason"
)
SERVICE_STATUS = (
    ": a LoadBalancer's status claims ingress IPs, and kube-proxy sends the cluster's traffic for them to that "
    "Service (CVE-2020-8554); leave services/status to the load-balancer controller, or exempt its role with the "
    "reason"
)
