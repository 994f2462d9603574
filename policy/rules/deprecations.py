"""API versions Kubernetes 1.34 still serves but has deprecated: `deprecated-api` (advisory).

`removed-api` (kinds.py) fails what a 1.34 cluster no longer serves. This rule names what it
still serves with a deprecation warning, ahead of the release that removes it (Kyverno's
`check-deprecated-apis`, which lists versions per removal release).

The table is what the 1.34 API server itself warns about. Its source is the lifecycle of each
type in k8s.io/api v0.34.1, which the API server turns into its `Warning: <apiVersion> <kind> is
deprecated in v1.X+, unavailable in v1.Y+` header: `zz_generated.prerelease-lifecycle.go` for
alpha and beta versions, `core/v1/lifecycle.go` for Endpoints. The Deprecated API Migration
Guide (https://kubernetes.io/docs/reference/using-api/deprecation-guide/) adds nothing here: its
newest entry, flowcontrol.apiserver.k8s.io/v1beta3 removed in 1.32, is in `removed-api`
already. So the table is short: beta and alpha versions whose successor 1.33 or 1.34 serves
(one, StorageVersionMigration, has none before 1.35), and one GA version, v1 Endpoints
(deprecated in 1.33 for EndpointSlice, KEP-4974), which stays served: no release removes it.

Left out: v1 ComponentStatus (deprecated in 1.19). It is read-only, so no manifest creates one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from policy.rules.kinds import BUILTIN, KUBERNETES_VERSION, identity
from policy.rules.model import Finding, Options, Resource, Rule


@dataclass(frozen=True)
class Deprecation:
    """When Kubernetes deprecated an apiVersion of a kind, when it stops serving it, and what to use."""

    deprecated_in: str
    removed_in: str | None
    """None: a GA version, which Kubernetes keeps serving."""
    use: str
    """The apiVersion to move to, `<apiVersion> <Kind>` for another kind, or "" when 1.34 serves none."""

    def message(self, api_version: str, kind: str) -> str:
        when = (
            f"Kubernetes {self.removed_in} stops serving it"
            if self.removed_in
            else "no release is set to remove it (a GA version)"
        )
        if not self.use:
            advice = f"Kubernetes {KUBERNETES_VERSION} serves no other version; plan the move before {self.removed_in}"
        elif self.use in BUILTIN:
            advice = f"use apiVersion: {self.use}"
        else:
            advice = f"use {self.use}"
        return f"{api_version} {kind} is deprecated since Kubernetes {self.deprecated_in} and {when}; {advice}"


# (deprecated in, removed in, apiVersion, kinds, use instead).
_DEPRECATED_ROWS: tuple[tuple[str, str | None, str, str, str], ...] = (
    ("1.34", "1.37", "networking.k8s.io/v1beta1", "IPAddress ServiceCIDR", "networking.k8s.io/v1"),
    ("1.34", "1.37", "storage.k8s.io/v1beta1", "VolumeAttributesClass", "storage.k8s.io/v1"),
    ("1.34", "1.37", "certificates.k8s.io/v1alpha1", "ClusterTrustBundle", "certificates.k8s.io/v1beta1"),
    ("1.33", None, "v1", "Endpoints", "discovery.k8s.io/v1 EndpointSlice"),
    # storagemigration.k8s.io/v1beta1 arrives only in 1.35.
    ("1.33", "1.36", "storagemigration.k8s.io/v1alpha1", "StorageVersionMigration", ""),
    ("1.32", "1.35", "storage.k8s.io/v1alpha1", "VolumeAttributesClass", "storage.k8s.io/v1"),
)

#: (apiVersion, kind) -> its deprecation, for versions Kubernetes 1.34 serves.
DEPRECATED: Mapping[tuple[str, str], Deprecation] = {
    (api_version, kind): Deprecation(deprecated_in, removed_in, use)
    for deprecated_in, removed_in, api_version, kinds, use in _DEPRECATED_ROWS
    for kind in kinds.split()
}


def check_deprecated_api(resource: Resource, options: Options) -> Iterator[Finding]:
    found = identity(resource)
    if found is None:
        return
    api_version, kind = found
    # A `<Kind>List` of a deprecated kind is as deprecated as the kind.
    deprecation = DEPRECATED.get((api_version, kind)) or DEPRECATED.get((api_version, kind.removesuffix("List")))
    if deprecation is not None:
        yield Finding(deprecation.message(api_version, kind))


RULES = [
    Rule(
        name="deprecated-api",
        why="A deprecated API version still works, but the release that removes it fails every apply of the "
        "object; moving while both versions are served is a one-line change that nothing depends on.",
        fix="Move to the apiVersion (or kind) the message names; the object's fields may differ, so check its "
        "reference page.",
        description=f"No object uses an API version Kubernetes {KUBERNETES_VERSION} still serves but has "
        "deprecated (advisory: it works until the release the message names).",
        enforcement="advisory",
        check=check_deprecated_api,
    ),
]
