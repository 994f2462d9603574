"""Where each workload kind keeps its pod template, and the containers inside it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy.rules.model import UNKNOWN, Resource, get

# Pulumi type token -> path to the pod spec's parent (the pod template or the Pod itself).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}
WORKLOADS = frozenset(POD_TEMPLATE_PATHS)
# Kinds whose pods run to completion: no probes expected.
RUN_TO_COMPLETION = frozenset({"kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"})


@dataclass(frozen=True)
class Container:
    """One container of a workload, with the path a message names it by."""

    spec: Mapping[str, Any]
    path: str
    init: bool

    @property
    def name(self) -> str:
        name = get(self.spec, "name")
        return str(name) if isinstance(name, str) else "?"


# A container's probes (the rules report them in this order).
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def pod_template(resource: Resource) -> Any:
    """The pod template (metadata + spec) of a workload; the Pod itself for a Pod."""
    path = POD_TEMPLATE_PATHS.get(resource.type)
    if path is None:
        return None
    return get(resource.props, *path) if path else resource.props


def pod_spec(resource: Resource) -> Any:
    template = pod_template(resource)
    return get(template, "spec") if template is not UNKNOWN else UNKNOWN


def pod_spec_path(resource: Resource) -> str:
    path = POD_TEMPLATE_PATHS.get(resource.type, ())
    return ".".join((*path, "spec"))


def pod_labels(resource: Resource) -> Any:
    template = pod_template(resource)
    return get(template, "metadata", "labels")


def containers(resource: Resource, *, ephemeral: bool = False) -> Iterator[Container | str]:
    """Every container, init containers too, and with `ephemeral` the ephemeral (debug)
    containers, which the Pod Security Standards check like the others; yields the path string
    of an unknown list."""
    spec = pod_spec(resource)
    base = pod_spec_path(resource)
    if spec is UNKNOWN:
        yield base
        return
    lists: tuple[tuple[str, bool], ...] = (("initContainers", True), ("containers", False))
    if ephemeral:
        lists += (("ephemeralContainers", False),)
    for key, init in lists:
        items = get(spec, key)
        if items is UNKNOWN:
            yield f"{base}.{key}"
            continue
        for index, item in enumerate(items or []):
            if item is UNKNOWN:
                yield f"{base}.{key}[{index}]"
            elif isinstance(item, Mapping):
                yield Container(item, f"{base}.{key}[{index}]", init)


def replicas(resource: Resource) -> Any:
    """Desired replicas of a scalable workload (Kubernetes' default of 1 when unset)."""
    if resource.type not in {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:ReplicaSet",
    }:
        return None
    value = get(resource.props, "spec", "replicas")
    return 1 if value is None else value


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A plain label selector (Service style) matches when every pair is in `labels`."""
    return all(labels.get(key) == value for key, value in selector.items())


def label_selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set."""
    if not isinstance(selector, Mapping):
        return False
    match_labels = selector.get("matchLabels") or {}
    if not selector_matches(match_labels, labels):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ServiceAccountIndex = dict[tuple[Any, Any], Resource]


def service_accounts(resources: list[Resource]) -> ServiceAccountIndex:
    """The set's ServiceAccounts by (namespace, name), the way a pod names its own."""
    return {(r.namespace, r.object_name): r for r in resources if r.type == SERVICE_ACCOUNT}


def service_account_name(spec: Any) -> Any:
    """The ServiceAccount a pod runs as: serviceAccountName, else the deprecated serviceAccount,
    else `default` (what the API server fills in)."""
    for key in ("serviceAccountName", "serviceAccount"):
        value = get(spec, key)
        if value is UNKNOWN or (isinstance(value, str) and value):
            return value
    return "default"


def token_mounted(resource: Resource, index: ServiceAccountIndex) -> Any:
    """Whether the pod gets an API token: the pod's automountServiceAccountToken, else its
    ServiceAccount's (when the set holds it), else True. UNKNOWN when that is not known yet."""
    spec = pod_spec(resource)
    if spec is UNKNOWN:
        return UNKNOWN
    value = get(spec, "automountServiceAccountToken")
    if value is None:
        name = service_account_name(spec)
        if name is UNKNOWN:
            return UNKNOWN
        account = index.get((resource.namespace, name))
        value = get(account.props, "automountServiceAccountToken") if account is not None else None
    if value is UNKNOWN:
        return UNKNOWN
    return value is not False
