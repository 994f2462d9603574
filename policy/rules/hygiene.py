"""Workload hygiene: pods that nothing reschedules, API tokens under the shared `default`
ServiceAccount, and pod-spec fields Kubernetes has deprecated."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from policy.rules.exemptions import exempted_rules
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import (
    WORKLOADS,
    pod_spec,
    pod_spec_path,
    pod_template,
    service_account_name,
    service_accounts,
    token_mounted,
)

POD = frozenset({"kubernetes:core/v1:Pod"})
TOKEN_RULE = "no-service-account-token"
# Pod-template annotations that a securityContext field replaced: prefix -> replacement.
DEPRECATED_ANNOTATIONS = {
    "seccomp.security.alpha.kubernetes.io/pod": "securityContext.seccompProfile",
    "container.seccomp.security.alpha.kubernetes.io/": "the container's securityContext.seccompProfile",
    "container.apparmor.security.beta.kubernetes.io/": "the container's securityContext.appArmorProfile",
}


def check_bare_pod(resource: Resource, options: Options) -> Iterator[Finding]:
    owners = get(resource.props, "metadata", "ownerReferences")
    if owners is UNKNOWN:
        yield unknown("metadata.ownerReferences")
    elif not owners:
        yield Finding(
            "is a bare Pod (no ownerReferences): nothing recreates it when its node fails or drains; "
            "run it from a Deployment, StatefulSet or Job"
        )


def check_default_service_account(resources: list[Resource], options: Options) -> Iterator[Finding]:
    """Only pods that really get a token, and are exempted from no-service-account-token (they call
    the API): a pod without a token has no API identity, so `default` costs nothing; one that
    mounts a token unexempted is already reported by no-service-account-token."""
    index = service_accounts(resources)
    for resource in resources:
        if resource.type not in WORKLOADS or TOKEN_RULE not in exempted_rules(resource.annotations):
            continue
        spec = pod_spec(resource)
        name = service_account_name(spec) if spec is not UNKNOWN else UNKNOWN
        mounted = token_mounted(resource, index)
        if name is UNKNOWN:
            yield Finding(unknown(f"{pod_spec_path(resource)}.serviceAccountName").message, True, resource)
        elif name == "default" and mounted is True:
            yield Finding(
                f"{pod_spec_path(resource)} mounts an API token as the namespace's 'default' ServiceAccount, "
                "which every pod of the namespace shares; create a ServiceAccount for it and set serviceAccountName",
                resource=resource,
            )


def _deprecated(resource: Resource) -> Iterator[tuple[str, str]]:
    """(deprecated field, its replacement) for each deprecated field the pod template uses."""
    spec = pod_spec(resource)
    base = pod_spec_path(resource)
    if get(spec, "serviceAccount") is not None:
        yield f"{base}.serviceAccount", f"{base}.serviceAccountName"
    for index, volume in enumerate(get(spec, "volumes") or []):
        if isinstance(volume, Mapping) and volume.get("gitRepo") is not None:
            yield f"{base}.volumes[{index}].gitRepo", "an emptyDir volume that an init container clones into"
    annotations = get(pod_template(resource), "metadata", "annotations")
    prefix = ".".join((*base.split(".")[:-1], "metadata", "annotations")) if "." in base else "metadata.annotations"
    for key in annotations if isinstance(annotations, Mapping) else ():
        for deprecated, replacement in DEPRECATED_ANNOTATIONS.items():
            if key == deprecated or (deprecated.endswith("/") and key.startswith(deprecated)):
                yield f"{prefix}.{key}", replacement


def check_deprecated_fields(resource: Resource, options: Options) -> Iterator[Finding]:
    if pod_spec(resource) is UNKNOWN:
        yield unknown(pod_spec_path(resource))
        return
    for field, replacement in _deprecated(resource):
        yield Finding(f"{field} is deprecated; use {replacement}")


RULES = [
    Rule(
        name="no-bare-pods",
        why=(
            "A Pod with no controller is not recreated when its node fails, drains or is upgraded. Advisory: "
            "a one-off debugging or bootstrap Pod is a legitimate choice, not a risk to others."
        ),
        fix="Run it from a Deployment, StatefulSet, DaemonSet or Job.",
        description="Pods are owned by a controller (ownerReferences); bare Pods are not rescheduled.",
        enforcement="advisory",
        check=check_bare_pod,
        types=POD,
    ),
    Rule(
        name="dedicated-service-account",
        why=(
            "Whatever RBAC grants the 'default' ServiceAccount every pod of its namespace gets. Checked only for "
            "pods that mount a token and are exempted from no-service-account-token (they call the API): without "
            "a token the account grants nothing, so our own workloads run as 'default' with tokens off."
        ),
        fix="Create a ServiceAccount for the workload, set `serviceAccountName`, and bind only what it needs.",
        description="Workloads that mount an API token run as their own ServiceAccount, not 'default'.",
        enforcement="mandatory",
        check=check_default_service_account,
        stack=True,
    ),
    Rule(
        name="no-deprecated-pod-fields",
        why=(
            "Deprecated fields are kept only for compatibility and are removed or ignored in later releases "
            "(gitRepo volumes are disabled by default since Kubernetes 1.33). Advisory: they still work today."
        ),
        fix=(
            "Use `serviceAccountName` for `serviceAccount`, securityContext.seccompProfile / appArmorProfile for "
            "the seccomp and AppArmor annotations, an init container cloning into an emptyDir for gitRepo."
        ),
        description=(
            "Pod templates use no deprecated field (serviceAccount, gitRepo volumes, seccomp or AppArmor annotations)."
        ),
        enforcement="advisory",
        check=check_deprecated_fields,
        types=WORKLOADS,
    ),
]
