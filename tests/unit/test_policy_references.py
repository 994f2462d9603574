"""pod-references-exist (`policy/rules/references.py`): the Secrets, ConfigMaps and claims a pod
template names are in the set. Failing sets with their exact violation (the path where the pod
names the object, and the object), close look-alikes that report nothing (optional references,
the kube-root-ca.crt every namespace gets, Secrets a set keeps out of its manifests), and the
advisory for a namespace something outside the set may fill.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.model import UNKNOWN, Resource, Violation
from tests.unit.policy_support import C0, NS, POD, TOKENS, deployment, edited, run, statefulset
from tests.unit.test_policy_relations import RelationCase, owned

RULE = "pod-references-exist"
MAIN = "spec.template.spec.containers[0]"
VOLUMES = "spec.template.spec.volumes"


def found(resources: list[Resource]) -> list[tuple[str, str, str, str]]:
    violations: list[Violation] = run(resources, relations=True)
    return [(v.policy, v.enforcement, v.resource, v.message) for v in violations if v.policy == RULE]


def obj(kind: str, name: str, namespace: str = NS) -> Resource:
    return Resource(
        TOKENS.get(kind, f"kubernetes:core/v1:{kind}"), {"metadata": {"name": name, "namespace": namespace}}, name
    )


def with_env(*env: dict[str, Any], env_from: list[dict[str, Any]] | None = None) -> Resource:
    edits: list[tuple[Any, Any]] = [((*C0, "env"), list(env))]
    if env_from is not None:
        edits.append(((*C0, "envFrom"), env_from))
    return edited(deployment(), *edits)


def with_volumes(*volumes: dict[str, Any]) -> Resource:
    return edited(deployment(), ((*POD, "volumes"), list(volumes)))


def secret_env(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": name, "key": "password", **extra}}}


def config_env(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": name, "key": "level", **extra}}}


def missing(path: str, kind: str, name: str) -> str:
    return f"{path} names {kind} {name!r}, which is not in the set; add it, or mark the reference optional: true"


CASES = [
    RelationCase(
        RULE,
        "config-map-key-ref",
        lambda: owned(with_env(config_env("api-setings")), obj("ConfigMap", "api-settings")),  # a typo
        (
            "mandatory",
            "Deployment/shop/api",
            missing(f"{MAIN}.env[0].valueFrom.configMapKeyRef.name", "ConfigMap", "api-setings"),
        ),
    ),
    RelationCase(
        RULE,
        "secret-key-ref-where-the-set-keeps-secrets",
        lambda: owned(with_env(secret_env("api-db")), obj("Secret", "api-session")),
        ("mandatory", "Deployment/shop/api", missing(f"{MAIN}.env[0].valueFrom.secretKeyRef.name", "Secret", "api-db")),
    ),
    RelationCase(
        RULE,
        "env-from-config-map",
        lambda: owned(with_env(env_from=[{"configMapRef": {"name": "api-env"}}])),
        ("mandatory", "Deployment/shop/api", missing(f"{MAIN}.envFrom[0].configMapRef.name", "ConfigMap", "api-env")),
    ),
    RelationCase(
        RULE,
        "claim-of-a-stateful-set",
        lambda: owned(
            edited(
                statefulset(), ((*POD, "volumes"), [{"name": "d", "persistentVolumeClaim": {"claimName": "db-data"}}])
            )
        ),
        (
            "mandatory",
            "StatefulSet/shop/db",
            missing(f"{VOLUMES}[0].persistentVolumeClaim.claimName", "PersistentVolumeClaim", "db-data"),
        ),
    ),
    RelationCase(
        RULE,
        "projected-config-map",
        lambda: owned(with_volumes({"name": "p", "projected": {"sources": [{"configMap": {"name": "ca-bundle"}}]}})),
        (
            "mandatory",
            "Deployment/shop/api",
            missing(f"{VOLUMES}[0].projected.sources[0].configMap.name", "ConfigMap", "ca-bundle"),
        ),
    ),
    RelationCase(
        RULE,
        "namespace-not-declared",
        lambda: [with_volumes({"name": "c", "configMap": {"name": "api-files"}})],
        (
            "advisory",
            "Deployment/shop/api",
            f"{VOLUMES}[0].configMap.name names ConfigMap 'api-files', which is not in the set; namespace 'shop' may "
            "get it from outside the set (it is not declared, or a Helm release, YAML group or operator's custom "
            "resource fills it) - check it exists in the cluster",
        ),
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_missing_references_are_named(case: RelationCase) -> None:
    assert found(case.resources()) == [(case.rule, *case.expected)]


def _certificate() -> Resource:
    props = {"metadata": {"name": "api-tls", "namespace": NS}, "spec": {"secretName": "api-tls"}}
    return Resource("kubernetes:cert-manager.io/v1:Certificate", props, "api-tls")


PASSING: dict[str, Callable[[], list[Resource]]] = {
    "config-map-present": lambda: owned(with_env(config_env("api-settings")), obj("ConfigMap", "api-settings")),
    "optional-config-map": lambda: owned(with_env(config_env("api-flags", optional=True))),
    "optional-volume": lambda: owned(with_volumes({"name": "c", "configMap": {"name": "x", "optional": True}})),
    "kube-root-ca": lambda: owned(
        with_volumes({"name": "ca", "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}]}})
    ),
    # No Secret in the set: the namespace's Secrets are made outside the manifests on purpose.
    "secrets-kept-out-of-the-manifests": lambda: owned(with_env(secret_env("api-db"))),
    "secret-present": lambda: owned(with_env(secret_env("api-db")), obj("Secret", "api-db")),
    "secret-volume-present": lambda: owned(
        with_volumes({"name": "s", "secret": {"secretName": "api-tls"}}), obj("Secret", "api-tls")
    ),
    "claim-present": lambda: owned(
        with_volumes({"name": "d", "persistentVolumeClaim": {"claimName": "data"}}),
        obj("PersistentVolumeClaim", "data"),
    ),
    "secrets-declared-only-in-another-namespace": lambda: owned(
        with_env(secret_env("api-db")), obj("Secret", "api-db", namespace="other")
    ),
    "no-references": lambda: owned(deployment()),
}


@pytest.mark.parametrize("build", list(PASSING.values()), ids=list(PASSING))
def test_look_alikes_report_nothing(build: Callable[[], list[Resource]]) -> None:
    assert found(build()) == []


def test_an_operator_in_the_namespace_makes_a_missing_object_advisory() -> None:
    # cert-manager's Certificate makes the Secret api-tls; the set cannot see that.
    resources = owned(
        with_volumes({"name": "tls", "secret": {"secretName": "api-tls"}}), obj("Secret", "other"), _certificate()
    )
    assert [(v[1], v[2]) for v in found(resources)] == [("advisory", "Deployment/shop/api")]


def test_a_reference_in_an_other_namespace_is_not_satisfied_by_one_here() -> None:
    # The same name in the pod's namespace is what counts: a ConfigMap elsewhere does not help.
    resources = owned(with_env(config_env("api-settings")), obj("ConfigMap", "api-settings", namespace="other"))
    assert [(v[1], v[3].split(";")[0]) for v in found(resources)] == [
        (
            "mandatory",
            f"{MAIN}.env[0].valueFrom.configMapKeyRef.name names ConfigMap 'api-settings', which is not in the set",
        )
    ]


def test_unknown_parts_are_named_advisories_and_known_ones_still_checked() -> None:
    # During preview a name may be another resource's output; the env list itself may be unknown.
    resource = edited(
        with_volumes({"name": "c", "configMap": {"name": "gone"}}),
        ((*C0, "env"), [{"name": "A", "valueFrom": {"secretKeyRef": {"name": UNKNOWN, "key": "k"}}}, UNKNOWN]),
    )
    violations = run(owned(resource, obj("Secret", "other")), relations=True)
    assert [(v.enforcement, v.message) for v in violations if v.policy == RULE] == [
        (
            "advisory",
            f"{UNCHECKED_PREFIX}{MAIN}.env[0].valueFrom.secretKeyRef.name is not known during preview; it is checked "
            "again on update",
        ),
        ("advisory", f"{UNCHECKED_PREFIX}{MAIN}.env[1] is not known during preview; it is checked again on update"),
        ("mandatory", missing(f"{VOLUMES}[0].configMap.name", "ConfigMap", "gone")),
    ]
