"""What a pod template reads by name must exist: the Secrets, ConfigMaps and
PersistentVolumeClaims its containers and volumes name.

A pod whose env names a missing Secret or ConfigMap stays in CreateContainerConfigError; one
whose volume names a missing one, or a missing claim, stays in ContainerCreating or Pending.
References marked `optional: true` are left out: the pod starts without them.

What the rule can know: the objects in the set, by kind, namespace and name (the index of
`policy.rules.relations`). What it cannot: objects made outside the set. So a missing ConfigMap
or claim is mandatory only in a namespace the set declares and fills itself; where the namespace
is not declared, a Helm release or YAML group fills it, or a custom resource lives in it (an
operator's Certificate or ExternalSecret makes Secrets), the finding is advisory. Secrets are
judged only in a namespace where the set declares Secrets itself: keeping Secrets out of the
manifests (made by hand, by a secrets operator, or by the deploy tool) is good practice, not a
mistake, and a set that declares none says that is what it does; one that declares some and
misses the one a pod names has most likely a typo. Kubernetes itself puts the ConfigMap
`kube-root-ca.crt` in every namespace, so it is never missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy.rules.kinds import custom_resources
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get
from policy.rules.relations import Index, build_index
from policy.rules.workloads import WORKLOADS, containers, pod_spec, pod_spec_path

# Objects Kubernetes makes in every namespace (kube-controller-manager's root CA publisher).
EVERY_NAMESPACE = {("ConfigMap", "kube-root-ca.crt")}
SECRET = "kubernetes:core/v1:Secret"


@dataclass(frozen=True)
class Reference:
    kind: str  # Secret | ConfigMap | PersistentVolumeClaim
    name: Any
    path: str  # where the pod template names it


def _named(kind: str, source: Any, key: str, path: str) -> Iterator[Reference]:
    """A reference unless it is absent or optional."""
    if not isinstance(source, Mapping) or source.get("optional") is True:
        return
    yield Reference(kind, source.get(key), f"{path}.{key}")


def _entries(value: Any, path: str) -> Iterator[tuple[str, Any] | str]:
    """(path, entry) of each entry of a list field; the path string of one not yet known."""
    if value is UNKNOWN:
        yield path
        return
    for i, entry in enumerate(value if isinstance(value, list) else []):
        yield f"{path}[{i}]" if entry is UNKNOWN else (f"{path}[{i}]", entry)


# What each kind of list entry may name: (kind, where in the entry, the key holding the name).
Table = tuple[tuple[str, tuple[str, ...], str], ...]
ENV: Table = (
    ("Secret", ("valueFrom", "secretKeyRef"), "name"),
    ("ConfigMap", ("valueFrom", "configMapKeyRef"), "name"),
)
ENV_FROM: Table = (("Secret", ("secretRef",), "name"), ("ConfigMap", ("configMapRef",), "name"))
VOLUMES: Table = (
    ("Secret", ("secret",), "secretName"),
    ("ConfigMap", ("configMap",), "name"),
    ("PersistentVolumeClaim", ("persistentVolumeClaim",), "claimName"),
)
PROJECTED: Table = (("Secret", ("secret",), "name"), ("ConfigMap", ("configMap",), "name"))


def _listed(value: Any, path: str, table: Table) -> Iterator[Reference | str]:
    """The references of each entry of a list field, by `table`; the path of a part not known."""
    for item in _entries(value, path):
        if isinstance(item, str):
            yield item
            continue
        where, entry = item
        for kind, at, key in table:
            yield from _named(kind, get(entry, *at), key, ".".join((where, *at)))


def references(workload: Resource) -> Iterator[Reference | str]:
    """Every required reference of the pod template; the path string of a part not yet known."""
    spec = pod_spec(workload)
    base = pod_spec_path(workload)
    if spec is UNKNOWN:
        yield base
        return
    for container in containers(workload):
        if isinstance(container, str):
            yield container
            continue
        yield from _listed(get(container.spec, "env"), f"{container.path}.env", ENV)
        yield from _listed(get(container.spec, "envFrom"), f"{container.path}.envFrom", ENV_FROM)
    volumes = get(spec, "volumes")
    yield from _listed(volumes, f"{base}.volumes", VOLUMES)
    for item in _entries(volumes, f"{base}.volumes"):
        if not isinstance(item, str):  # an unknown volume is named once, above
            where, volume = item
            yield from _listed(get(volume, "projected", "sources"), f"{where}.projected.sources", PROJECTED)


def check_references(resources: list[Resource], options: Options) -> Iterator[Finding]:
    index: Index = build_index(resources)
    operated = {resource.namespace for resource, _ in custom_resources(resources)}
    keeps_secrets = {r.namespace for r in resources if r.type == SECRET}
    for workload in (r for r in resources if r.type in WORKLOADS):
        for ref in references(workload):
            if isinstance(ref, str) or ref.name is UNKNOWN:
                where = ref if isinstance(ref, str) else ref.path
                yield Finding(
                    f"{where} is not known during preview; it is checked again on update",
                    unknown=True,
                    resource=workload,
                )
                continue
            if not isinstance(ref.name, str) or (ref.kind, ref.name) in EVERY_NAMESPACE:
                continue
            if index.find(ref.kind, workload.namespace, ref.name) is not None:
                continue
            message = f"{ref.path} names {ref.kind} {ref.name!r}, which is not in the set"
            if ref.kind == "Secret" and workload.namespace not in keeps_secrets:
                continue  # the namespace's Secrets are made outside the set
            if index.owns(workload.namespace) and workload.namespace not in operated:
                yield Finding(f"{message}; add it, or mark the reference optional: true", resource=workload)
            else:
                yield Finding(
                    f"{message}; namespace {workload.namespace!r} may get it from outside the set (it is not "
                    "declared, or a Helm release, YAML group or operator's custom resource fills it) - check it "
                    "exists in the cluster",
                    advisory=True,
                    resource=workload,
                )


RULES = [
    Rule(
        name="pod-references-exist",
        why="A pod naming a missing Secret or ConfigMap never starts (CreateContainerConfigError); a missing "
        "claim leaves it Pending.",
        fix="Add the object to the set, fix the name, or mark the reference `optional: true`.",
        description="The Secrets, ConfigMaps and PersistentVolumeClaims a pod template names (env, envFrom, "
        "volumes, projected sources; optional ones aside) are in the set. Mandatory in a namespace the set "
        "declares and fills itself; advisory where a Helm release, YAML group or custom resource may make the "
        "object, or the namespace is not declared. Secrets are judged only where the set declares Secrets (many "
        "teams keep them out of manifests on purpose).",
        enforcement="mandatory",
        check=check_references,
        stack=True,
    ),
]
