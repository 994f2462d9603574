"""Every object accounted for: a Kubernetes built-in, an API version Kubernetes removed, a custom
resource (which no rule here knows in full, so it is listed as unchecked), or nothing a cluster
serves at all (a typo).

The tables are data. `BUILTIN` is what Kubernetes 1.34, the cluster version of
toolchain/pins.toml, serves (its OpenAPI; a unit test compares the table with
kubernetes-validate's 1.34 schema). `REMOVED` is "Removed APIs by release" of the Deprecated API
Migration Guide (https://kubernetes.io/docs/reference/using-api/deprecation-guide/).
`CLUSTER_SCOPED` says which built-in kinds have no namespace (`no-default-namespace` judges the
rest); versions still served but deprecated are in deprecations.py.

A rule sees an object's apiVersion and kind in its properties (what the API server is sent);
when they are absent, as in most Pulumi resources' inputs, it reads them from the type token
(`kubernetes:apps/v1:Deployment`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from policy.rules.model import Finding, Options, Resource, Rule, get

KUBERNETES_VERSION = "1.34"


def _kinds(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: apiVersion -> the kinds Kubernetes 1.34 serves under it (alpha and beta versions too: a
#: feature gate turns them on). `List` kinds are not listed: `kind: List` and `<Kind>List` hold
#: objects, and `azora policy check` unpacks them.
BUILTIN: Mapping[str, frozenset[str]] = {
    "v1": _kinds(
        "Binding ComponentStatus ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolume"
        " PersistentVolumeClaim Pod PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount"
    ),
    "admissionregistration.k8s.io/v1": _kinds(
        "MutatingWebhookConfiguration ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding"
        " ValidatingWebhookConfiguration"
    ),
    "admissionregistration.k8s.io/v1alpha1": _kinds("MutatingAdmissionPolicy MutatingAdmissionPolicyBinding"),
    "admissionregistration.k8s.io/v1beta1": _kinds("MutatingAdmissionPolicy MutatingAdmissionPolicyBinding"),
    "apiextensions.k8s.io/v1": _kinds("CustomResourceDefinition"),
    "apiregistration.k8s.io/v1": _kinds("APIService"),
    "apps/v1": _kinds("ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet"),
    "authentication.k8s.io/v1": _kinds("SelfSubjectReview TokenRequest TokenReview"),
    "authorization.k8s.io/v1": _kinds(
        "LocalSubjectAccessReview SelfSubjectAccessReview SelfSubjectRulesReview SubjectAccessReview"
    ),
    "autoscaling/v1": _kinds("HorizontalPodAutoscaler Scale"),
    "autoscaling/v2": _kinds("HorizontalPodAutoscaler"),
    "batch/v1": _kinds("CronJob Job"),
    "certificates.k8s.io/v1": _kinds("CertificateSigningRequest"),
    "certificates.k8s.io/v1alpha1": _kinds("ClusterTrustBundle PodCertificateRequest"),
    "certificates.k8s.io/v1beta1": _kinds("ClusterTrustBundle"),
    "coordination.k8s.io/v1": _kinds("Lease"),
    "coordination.k8s.io/v1alpha2": _kinds("LeaseCandidate"),
    "coordination.k8s.io/v1beta1": _kinds("LeaseCandidate"),
    "discovery.k8s.io/v1": _kinds("EndpointSlice"),
    "events.k8s.io/v1": _kinds("Event"),
    "flowcontrol.apiserver.k8s.io/v1": _kinds("FlowSchema PriorityLevelConfiguration"),
    "internal.apiserver.k8s.io/v1alpha1": _kinds("StorageVersion"),
    "networking.k8s.io/v1": _kinds("IPAddress Ingress IngressClass NetworkPolicy ServiceCIDR"),
    "networking.k8s.io/v1beta1": _kinds("IPAddress ServiceCIDR"),
    "node.k8s.io/v1": _kinds("RuntimeClass"),
    "policy/v1": _kinds("Eviction PodDisruptionBudget"),
    "rbac.authorization.k8s.io/v1": _kinds("ClusterRole ClusterRoleBinding Role RoleBinding"),
    "resource.k8s.io/v1": _kinds("DeviceClass ResourceClaim ResourceClaimTemplate ResourceSlice"),
    "resource.k8s.io/v1alpha3": _kinds("DeviceTaintRule"),
    "resource.k8s.io/v1beta1": _kinds("DeviceClass ResourceClaim ResourceClaimTemplate ResourceSlice"),
    "resource.k8s.io/v1beta2": _kinds("DeviceClass ResourceClaim ResourceClaimTemplate ResourceSlice"),
    "scheduling.k8s.io/v1": _kinds("PriorityClass"),
    "storage.k8s.io/v1": _kinds(
        "CSIDriver CSINode CSIStorageCapacity StorageClass VolumeAttachment VolumeAttributesClass"
    ),
    "storage.k8s.io/v1alpha1": _kinds("VolumeAttributesClass"),
    "storage.k8s.io/v1beta1": _kinds("VolumeAttributesClass"),
    "storagemigration.k8s.io/v1alpha1": _kinds("StorageVersionMigration"),
}

#: The built-in kinds that are cluster-scoped (no namespace); every other kind of `BUILTIN` is
#: namespaced. From Kubernetes 1.34's OpenAPI (api/openapi-spec/swagger.json of v1.34.1): these
#: kinds have no path under /namespaces/{namespace}/. A kind's scope is the same in every version.
CLUSTER_SCOPED = _kinds(
    "APIService CSIDriver CSINode CertificateSigningRequest ClusterRole ClusterRoleBinding ClusterTrustBundle"
    " ComponentStatus CustomResourceDefinition DeviceClass DeviceTaintRule FlowSchema IPAddress IngressClass"
    " MutatingAdmissionPolicy MutatingAdmissionPolicyBinding MutatingWebhookConfiguration Namespace Node"
    " PersistentVolume PriorityClass PriorityLevelConfiguration ResourceSlice RuntimeClass SelfSubjectAccessReview"
    " SelfSubjectReview SelfSubjectRulesReview ServiceCIDR StorageClass StorageVersion StorageVersionMigration"
    " SubjectAccessReview TokenReview ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding"
    " ValidatingWebhookConfiguration VolumeAttachment VolumeAttributesClass"
)

#: Namespaced kinds that are requests, never stored: a subresource's body (pods/binding,
#: pods/eviction, <workload>/scale, serviceaccounts/token) or a one-off access review.
REQUESTS = _kinds("Binding Eviction LocalSubjectAccessReview Scale TokenRequest")

POD_SECURITY_ADMISSION = (
    "Pod Security Admission (the namespace label pod-security.kubernetes.io/enforce), which has no object of its own"
)


@dataclass(frozen=True)
class Removal:
    """When Kubernetes stopped serving an apiVersion of a kind, and what to use instead."""

    removed_in: str
    use: str
    """The apiVersion that serves the kind now, or (PodSecurityPolicy) what replaces it."""

    @property
    def advice(self) -> str:
        return f"use apiVersion: {self.use}" if self.use in BUILTIN else f"use {self.use}"


# (removed in, apiVersion, kinds, use instead), newest first as the guide lists them. Where the
# guide's replacement was removed later too (flowcontrol v1beta2, policy/v1beta1 for
# PodSecurityPolicy), the replacement named is the one served now.
_REMOVED_ROWS = (
    (
        "1.32",
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "1.29",
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    ("1.27", "storage.k8s.io/v1beta1", "CSIStorageCapacity", "storage.k8s.io/v1"),
    (
        "1.26",
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    ("1.26", "autoscaling/v2beta2", "HorizontalPodAutoscaler", "autoscaling/v2"),
    ("1.25", "batch/v1beta1", "CronJob", "batch/v1"),
    ("1.25", "discovery.k8s.io/v1beta1", "EndpointSlice", "discovery.k8s.io/v1"),
    ("1.25", "events.k8s.io/v1beta1", "Event", "events.k8s.io/v1"),
    ("1.25", "autoscaling/v2beta1", "HorizontalPodAutoscaler", "autoscaling/v2"),
    ("1.25", "policy/v1beta1", "PodDisruptionBudget", "policy/v1"),
    ("1.25", "policy/v1beta1", "PodSecurityPolicy", POD_SECURITY_ADMISSION),
    ("1.25", "node.k8s.io/v1beta1", "RuntimeClass", "node.k8s.io/v1"),
    (
        "1.22",
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
    ),
    ("1.22", "apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "apiextensions.k8s.io/v1"),
    ("1.22", "apiregistration.k8s.io/v1beta1", "APIService", "apiregistration.k8s.io/v1"),
    ("1.22", "authentication.k8s.io/v1beta1", "TokenReview", "authentication.k8s.io/v1"),
    (
        "1.22",
        "authorization.k8s.io/v1beta1",
        "LocalSubjectAccessReview SelfSubjectAccessReview SubjectAccessReview SelfSubjectRulesReview",
        "authorization.k8s.io/v1",
    ),
    ("1.22", "certificates.k8s.io/v1beta1", "CertificateSigningRequest", "certificates.k8s.io/v1"),
    ("1.22", "coordination.k8s.io/v1beta1", "Lease", "coordination.k8s.io/v1"),
    ("1.22", "extensions/v1beta1", "Ingress", "networking.k8s.io/v1"),
    ("1.22", "networking.k8s.io/v1beta1", "Ingress IngressClass", "networking.k8s.io/v1"),
    (
        "1.22",
        "rbac.authorization.k8s.io/v1beta1",
        "ClusterRole ClusterRoleBinding Role RoleBinding",
        "rbac.authorization.k8s.io/v1",
    ),
    ("1.22", "scheduling.k8s.io/v1beta1", "PriorityClass", "scheduling.k8s.io/v1"),
    ("1.22", "storage.k8s.io/v1beta1", "CSIDriver CSINode StorageClass VolumeAttachment", "storage.k8s.io/v1"),
    ("1.16", "extensions/v1beta1", "NetworkPolicy", "networking.k8s.io/v1"),
    ("1.16", "extensions/v1beta1", "DaemonSet Deployment ReplicaSet", "apps/v1"),
    ("1.16", "apps/v1beta1", "Deployment ReplicaSet StatefulSet", "apps/v1"),
    ("1.16", "apps/v1beta2", "DaemonSet Deployment ReplicaSet StatefulSet", "apps/v1"),
    ("1.16", "extensions/v1beta1", "PodSecurityPolicy", POD_SECURITY_ADMISSION),
)

#: (apiVersion, kind) -> its removal.
REMOVED: Mapping[tuple[str, str], Removal] = {
    (api_version, kind): Removal(removed_in, use)
    for removed_in, api_version, kinds, use in _REMOVED_ROWS
    for kind in kinds.split()
}

#: Groups under k8s.io that are not built in but belong to Kubernetes projects: their CRDs
#: (Gateway API, volume snapshots, the VerticalPodAutoscaler, AdminNetworkPolicy, ...) and the
#: aggregated metrics APIs. Any other *.k8s.io group is reserved to Kubernetes and served by
#: nothing, so an object in it is a typo (the rule's `customGroups` option adds a group here).
KUBERNETES_PROJECT_GROUPS = frozenset(
    {
        "gateway.networking.k8s.io",
        "inference.networking.k8s.io",
        "policy.networking.k8s.io",
        "snapshot.storage.k8s.io",
        "groupsnapshot.storage.k8s.io",
        "autoscaling.k8s.io",
        "topology.node.k8s.io",
        "scheduling.sigs.k8s.io",
        "metrics.k8s.io",
        "custom.metrics.k8s.io",
        "external.metrics.k8s.io",
    }
)

#: Types of the Kubernetes provider that are Pulumi's own, not API objects: they render or install
#: objects, which the pack then sees one by one (a Helm release's objects are Helm's).
PULUMI_TYPES = frozenset(
    {
        "kubernetes:helm.sh/v3:Chart",
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:kustomize:Directory",
        "kubernetes:kustomize/v2:Directory",
        "kubernetes:yaml:ConfigFile",
        "kubernetes:yaml:ConfigGroup",
        "kubernetes:yaml/v2:ConfigFile",
        "kubernetes:yaml/v2:ConfigGroup",
    }
)


def group_of(api_version: str) -> str:
    """`apps/v1` -> `apps`; the core group (`v1`) is ``""``."""
    return api_version.rpartition("/")[0]


BUILTIN_GROUPS = frozenset(group_of(api_version) for api_version in BUILTIN) | frozenset(
    group_of(api_version) for api_version, _ in REMOVED
)
_ALL_BUILTIN_KINDS = sorted({kind for kinds in BUILTIN.values() for kind in kinds})
# An API group is a DNS subdomain.
_GROUP = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PATCH = "Patch"

Category = Literal["builtin", "removed", "custom", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """What an apiVersion and kind are; for `removed` and `unknown`, what is wrong and the fix."""

    category: Category
    api_version: str
    kind: str
    message: str = ""


def identity(resource: Resource) -> tuple[str, str] | None:
    """The object's apiVersion and kind, or None when the resource is no Kubernetes object (another
    provider's, a component, Pulumi's Helm and YAML types)."""
    if not resource.type.startswith("kubernetes:") or resource.type in PULUMI_TYPES:
        return None
    api_version, kind = get(resource.props, "apiVersion"), get(resource.props, "kind")
    if isinstance(api_version, str) and isinstance(kind, str):
        return api_version, kind
    parts = resource.type.split(":")
    if len(parts) != 3:
        return None
    group_version, kind = parts[1], parts[2]
    api_version = group_version.removeprefix("core/")  # the core group has no name in an apiVersion
    # Pulumi's server-side-apply patches (`apps/v1:DeploymentPatch`) send the kind itself.
    base = kind.removesuffix(_PATCH)
    if base != kind and (base in BUILTIN.get(api_version, ()) or (api_version, base) in REMOVED):
        kind = base
    return api_version, kind


def _is_builtin(api_version: str, kind: str) -> bool:
    kinds = BUILTIN.get(api_version, frozenset())
    if kind in kinds:
        return True
    # `v1 List` and `<Kind>List` (Pulumi has `core/v1:ConfigMapList` resources) hold objects.
    return (api_version == "v1" and kind == "List") or (kind.endswith("List") and kind.removesuffix("List") in kinds)


def _stable_first(api_versions: Iterable[str]) -> list[str]:
    return sorted(api_versions, key=lambda av: (not re.fullmatch(r"(.*/)?v\d+", av), av))


def served_as(kind: str) -> list[str]:
    """Every apiVersion that serves `kind` in Kubernetes 1.34, stable versions first."""
    return _stable_first(api_version for api_version, kinds in BUILTIN.items() if kind in kinds)


def _hint(kind: str, api_version: str) -> str:
    homes = served_as(kind)
    if homes:
        stable = [home for home in homes if re.fullmatch(r"(.*/)?v\d+", home)] or homes
        return f"set apiVersion: {' or '.join(stable)}"
    close = difflib.get_close_matches(kind, _ALL_BUILTIN_KINDS, n=1, cutoff=0.8)
    if close:
        homes = served_as(close[0])
        return f"did you mean {close[0]} ({api_version if api_version in homes else homes[0]})?"
    return "check the kind's spelling and the apiVersion it is served as (`kubectl api-resources`)"


def classify(api_version: str, kind: str, custom_groups: Iterable[str] = ()) -> Verdict:
    """Built-in, removed, custom or unknown, against Kubernetes 1.34 and the migration guide."""
    group, _, version = api_version.rpartition("/")
    where = f"{api_version} {kind}"
    if not _GROUP.fullmatch(group or "core") or not version:
        return Verdict("unknown", api_version, kind, f"apiVersion {api_version!r} is not <group>/<version> or v1")
    if _is_builtin(api_version, kind):
        return Verdict("builtin", api_version, kind)
    # A `<Kind>List` of a removed kind is as removed as the kind.
    removal = REMOVED.get((api_version, kind)) or REMOVED.get((api_version, kind.removesuffix("List")))
    if removal is not None:
        message = f"{where} was removed in Kubernetes {removal.removed_in}; {removal.advice}"
        return Verdict("removed", api_version, kind, message)
    if group in BUILTIN_GROUPS or "." not in group:
        if api_version in BUILTIN:
            what = f"{api_version} has no kind {kind} in Kubernetes {KUBERNETES_VERSION}"
        elif group in BUILTIN_GROUPS:
            what = f"Kubernetes {KUBERNETES_VERSION} does not serve {api_version}"
        else:
            # A custom resource's group always has a dot: CRD validation requires one.
            what = f"{group!r} is no Kubernetes API group, and a custom resource's group has a dot"
        return Verdict("unknown", api_version, kind, f"{what}; {_hint(kind, api_version)}")
    if group.endswith(".config.k8s.io"):
        message = (
            f"{group} is a configuration file format (kubelet, kube-proxy, kustomize, ...), not an object a"
            " cluster serves; leave the file out (kustomize: check the output of `kubectl kustomize DIR`)"
        )
        return Verdict("unknown", api_version, kind, message)
    if group.endswith(".k8s.io") and group not in KUBERNETES_PROJECT_GROUPS and group not in set(custom_groups):
        message = (
            f"{group} is reserved to Kubernetes (*.k8s.io) and is neither built in nor a Kubernetes project's"
            f" CRD group (a CRD of your own there: add the group to customGroups); {_hint(kind, api_version)}"
        )
        return Verdict("unknown", api_version, kind, message)
    return Verdict("custom", api_version, kind)


def _custom_groups(options: Options) -> list[str]:
    value = options.get("customGroups") or []
    return [str(group) for group in value] if isinstance(value, list) else []


def verdict_of(resource: Resource, options: Options | None = None) -> Verdict | None:
    """The resource's verdict, or None when it is no Kubernetes object."""
    found = identity(resource)
    if found is None:
        return None
    return classify(*found, custom_groups=_custom_groups(options or {}))


def stored_in_a_namespace(resource: Resource) -> bool:
    """Whether the resource is an object of a built-in namespaced kind that the API server stores.

    False for cluster-scoped kinds, requests (`REQUESTS`), lists, removed API versions (which
    `removed-api` rejects), and custom resources: a custom kind's scope is in its CRD, which a
    check of one object cannot see."""
    found = identity(resource)
    if found is None:
        return False
    api_version, kind = found
    return kind in BUILTIN.get(api_version, ()) and kind not in CLUSTER_SCOPED and kind not in REQUESTS


def custom_resources(resources: Iterable[Resource], options: Options | None = None) -> list[tuple[Resource, Verdict]]:
    """The custom resources among `resources`: no rule here knows their schema, so they pass unchecked."""
    found = []
    for resource in resources:
        verdict = verdict_of(resource, options)
        if verdict is not None and verdict.category == "custom":
            found.append((resource, verdict))
    return found


def check_unknown_kind(resource: Resource, options: Options) -> Iterator[Finding]:
    verdict = verdict_of(resource, options)
    if verdict is not None and verdict.category == "unknown":
        yield Finding(verdict.message)


def check_removed_api(resource: Resource, options: Options) -> Iterator[Finding]:
    verdict = verdict_of(resource)
    if verdict is not None and verdict.category == "removed":
        yield Finding(verdict.message)


RULES = [
    Rule(
        name="unknown-kind",
        why=(
            "A cluster serves no such object: the apply fails, or a tool that skips what it does not know"
            " deploys nothing, and every other rule passes it unseen. A typo (`Deploymnet`, `apiVersion: v1`"
            " on a Deployment) never becomes a working object."
        ),
        fix=(
            "Use the apiVersion the message names (`kubectl api-resources` lists them); for a CRD of your"
            " own in a *.k8s.io group, add the group to the rule's `customGroups` option."
        ),
        description=(
            f"Every object's apiVersion and kind are a Kubernetes {KUBERNETES_VERSION} built-in or a custom"
            " resource's (custom resources are listed as unchecked)."
        ),
        enforcement="mandatory",
        check=check_unknown_kind,
        options={"customGroups": []},
        schema={
            "customGroups": {
                "type": "array",
                "items": {"type": "string"},
                "description": "*.k8s.io API groups of your own CRDs, to treat as custom resources.",
            }
        },
    ),
    Rule(
        name="removed-api",
        why=(
            "Kubernetes no longer serves a removed API version: the apply fails on a current cluster, and"
            " objects still written that way break on the next deploy after a cluster upgrade."
        ),
        fix=(
            "Move to the apiVersion the message names (`kubectl convert` rewrites a file; see the Deprecated"
            " API Migration Guide for changed fields); PodSecurityPolicy: Pod Security Admission labels."
        ),
        description="No object uses an API version Kubernetes has removed (the Deprecated API Migration Guide).",
        enforcement="mandatory",
        check=check_removed_api,
    ),
]
