"""Metadata rules: recommended labels, nothing namespaced in `default`, exemptions carry reasons."""

from __future__ import annotations

from collections.abc import Iterator

from policy.rules.exemptions import EXEMPT_ANNOTATION, parse_exemptions
from policy.rules.kinds import stored_in_a_namespace
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import WORKLOADS, pod_labels

LABELED = WORKLOADS | {"kubernetes:core/v1:Service"}
REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of")


def check_labels(resource: Resource, options: Options) -> Iterator[Finding]:
    if get(resource.props, "metadata", "labels") is UNKNOWN:
        yield unknown("metadata.labels")
        return
    missing = [label for label in REQUIRED_LABELS if not resource.labels.get(label)]
    if missing:
        yield Finding(f"metadata.labels lacks {', '.join(missing)}; add the app.kubernetes.io labels")
    if resource.type in WORKLOADS and resource.type != "kubernetes:core/v1:Pod":
        template = pod_labels(resource)
        if template is UNKNOWN:
            yield unknown("pod template labels")
            return
        template = template or {}
        missing = [label for label in REQUIRED_LABELS if not template.get(label)]
        if missing:
            yield Finding(f"the pod template's labels lack {', '.join(missing)}")


# Objects Kubernetes itself keeps in `default`, which a stack may configure (checkov's CKV_K8S_21
# passes them too): its ServiceAccount `default` and the API server's Service `kubernetes`.
KUBERNETES_OWN = frozenset({("ServiceAccount", "default"), ("Service", "kubernetes")})


def check_namespace(resource: Resource, options: Options) -> Iterator[Finding]:
    # Cluster-scoped kinds have no namespace to set; a custom resource's scope is in its CRD.
    if not stored_in_a_namespace(resource):
        return
    namespace = resource.namespace
    if namespace in (None, "", "default") and (resource.kind, resource.object_name) in KUBERNETES_OWN:
        return
    if namespace is UNKNOWN:
        yield unknown("metadata.namespace")
    elif not namespace:
        yield Finding("metadata.namespace is not set, so it lands in 'default'; set the app namespace")
    elif namespace == "default":
        yield Finding("is in the 'default' namespace; move it to the app namespace")


def check_exemption_reasons(resource: Resource, options: Options) -> Iterator[Finding]:
    from policy.rules.catalog import RULE_NAMES

    raw = resource.annotations.get(EXEMPT_ANNOTATION)
    if raw is None:
        return
    if raw is UNKNOWN:
        yield unknown(f"metadata.annotations.{EXEMPT_ANNOTATION}")
        return
    for exemption in parse_exemptions(str(raw)):
        if exemption.rule not in RULE_NAMES:
            yield Finding(f"{EXEMPT_ANNOTATION} names unknown rule {exemption.rule!r}")
        if not exemption.reason:
            yield Finding(
                f"{EXEMPT_ANNOTATION} exempts {exemption.rule!r} without a reason; write '{exemption.rule}: <why>'"
            )


RULES = [
    Rule(
        name="recommended-labels",
        why="Dashboards, alerts, NetworkPolicies and on-call tooling select by these labels.",
        fix="Add `app.kubernetes.io/name` and `app.kubernetes.io/part-of` to the object and its pod template.",
        description="Workloads, their pods and Services carry app.kubernetes.io/name and app.kubernetes.io/part-of.",
        enforcement="mandatory",
        check=check_labels,
        types=LABELED,
    ),
    Rule(
        name="no-default-namespace",
        why="`default` has no quota, no default-deny policy and no owner.",
        fix="Set `metadata.namespace` to the stack's namespace.",
        description="No object of a namespaced built-in kind (workloads, Services, ConfigMaps, Secrets, "
        "Ingresses, ServiceAccounts, Roles, RoleBindings, ...) is in the default namespace or leaves its namespace "
        "unset, except what Kubernetes keeps there (ServiceAccount default, Service kubernetes). Cluster-scoped "
        "kinds are not judged, nor are custom resources: their scope is in their CRD.",
        enforcement="mandatory",
        check=check_namespace,
    ),
    Rule(
        name="policy-exemption-reason",
        why="An exemption without a reason cannot be reviewed or revisited.",
        fix='Write `azora.io/policy-exempt: "<rule>: <why>"` with a known rule name.',
        description="Every azora.io/policy-exempt entry names a known rule and gives a reason.",
        enforcement="mandatory",
        check=check_exemption_reasons,
    ),
]
