"""What the policy rule tests share: builders of compliant Kubernetes objects, the edits
that break them, the runs every rule family's file makes, and the check of a broken case
(`assert_trips_only_its_rule`).

Each builder returns a fresh, compliant object (no dict is shared between calls, so a case can
edit one field without touching another resource); a failing case (`Case`) breaks one field of
one of them. `run` evaluates resources through the real engine (`evaluate`), so assertions are
on the violations it really produces: policy name, enforcement, `Kind/namespace/name` and a key
part of the message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from policy.rules import references, relations
from policy.rules.engine import evaluate
from policy.rules.model import Resource, Violation
from policy.rules.settings import parse_settings
from policy.rules.workloads import WORKLOADS

NS = "shop"
PathT = tuple[str | int, ...]
DELETE = object()  # an edit value that removes the key instead of setting it

TOKENS = {
    "Pod": "kubernetes:core/v1:Pod",
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Service": "kubernetes:core/v1:Service",
    "Ingress": "kubernetes:networking.k8s.io/v1:Ingress",
    "ConfigMap": "kubernetes:core/v1:ConfigMap",
    "HPA": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "PDB": "kubernetes:policy/v1:PodDisruptionBudget",
    "Namespace": "kubernetes:core/v1:Namespace",
    "NetworkPolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")

# Where each kind keeps its pod spec: what messages name and what edits address.
POD_PATHS: dict[str, PathT] = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    **{kind: ("spec", "template", "spec") for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")},
}
POD: PathT = POD_PATHS["Deployment"]
C0: PathT = (*POD, "containers", 0)  # the Deployment's main container
SC: PathT = (*C0, "securityContext")
LABELS: PathT = ("metadata", "labels")


def labels(app: str = "api", **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "azora", **extra}


def container(name: str = "api", image: str = "ghcr.io/azora/api:1.4.2", probes: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if probes:
        spec["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
        spec["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "http"}}
    return spec


def init_container() -> dict[str, Any]:
    # Init containers run to completion: no probes, everything else as strict.
    spec = container("migrate", "ghcr.io/azora/api-migrate:1.4.2", probes=False)
    del spec["ports"]
    return spec


def pod_spec(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": list(init),
        "containers": list(containers) or [container()],
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
    }


def workload(
    kind: str = "Deployment",
    name: str = "api",
    *,
    namespace: str | None = NS,
    replicas: int | None = 1,
    extra_labels: Mapping[str, str] | None = None,
    spec: dict[str, Any] | None = None,
) -> Resource:
    """A compliant workload of any kind, its pod spec at the kind's own path."""
    meta: dict[str, Any] = {"name": name, "labels": labels(name, **(extra_labels or {}))}
    if namespace is not None:
        meta["namespace"] = namespace
    pod = spec if spec is not None else pod_spec()
    template = {"metadata": {"labels": labels(name, **(extra_labels or {}))}, "spec": pod}
    if kind == "Pod":  # owned, as a Pod a controller made is (a bare Pod trips no-bare-pods)
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-7d4b9c", "controller": True}
        ]
        props: dict[str, Any] = {"metadata": meta, "spec": pod}
    elif kind in ("Job", "CronJob"):
        job = {"template": {**template, "spec": {**pod, "restartPolicy": "Never"}}}
        props = {
            "metadata": meta,
            "spec": job if kind == "Job" else {"schedule": "*/5 * * * *", "jobTemplate": {"spec": job}},
        }
    else:
        body: dict[str, Any] = {"selector": {"matchLabels": {"app.kubernetes.io/name": name}}, "template": template}
        if kind != "DaemonSet" and replicas is not None:
            body["replicas"] = replicas
        props = {"metadata": meta, "spec": body}
    return Resource(TOKENS[kind], props, name)


def deployment(name: str = "api", **kwargs: Any) -> Resource:
    return workload("Deployment", name, **kwargs)


def statefulset(name: str = "db", **kwargs: Any) -> Resource:
    return workload("StatefulSet", name, **kwargs)


def _meta(name: str, namespace: str | None = NS, extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels(name, **(extra_labels or {}))}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def service(
    name: str = "api",
    *,
    selector: Mapping[str, Any] | None = None,
    role: str | None = None,
    app: str | None = None,
    namespace: str = NS,
) -> Resource:
    extra = {"azora.io/service-role": role} if role else {}
    meta = _meta(name, namespace, extra)
    if app:
        meta["labels"]["app.kubernetes.io/name"] = app
    spec = {
        "type": "ClusterIP",
        "selector": dict(selector or {"app.kubernetes.io/name": name}),
        "ports": [{"port": 80, "targetPort": "http"}],
    }
    return Resource(TOKENS["Service"], {"metadata": meta, "spec": spec}, name)


def ingress(name: str = "api", host: str = "api.azora.example") -> Resource:
    rule = {
        "host": host,
        "http": {
            "paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 80}}}}
            ]
        },
    }
    spec = {"ingressClassName": "nginx", "rules": [rule], "tls": [{"hosts": [host], "secretName": f"{name}-tls"}]}
    return Resource(TOKENS["Ingress"], {"metadata": _meta(name), "spec": spec}, name)


def config_map(name: str = "api-settings", data: Mapping[str, Any] | None = None) -> Resource:
    body = dict(data if data is not None else {"LOG_LEVEL": "info", "API_URL": "https://api.azora.example"})
    return Resource(TOKENS["ConfigMap"], {"metadata": _meta(name), "data": body}, name)


def hpa(name: str = "api", min_replicas: int = 2, max_replicas: int = 6) -> Resource:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
    }
    return Resource(TOKENS["HPA"], {"metadata": _meta(name), "spec": spec}, name)


def pdb(app: str = "api", *, namespace: str = NS, **budget: Any) -> Resource:
    spec = {"selector": {"matchLabels": {"app.kubernetes.io/name": app}}, **(budget or {"maxUnavailable": 1})}
    return Resource(TOKENS["PDB"], {"metadata": {"name": app, "namespace": namespace}, "spec": spec}, app)


def namespace(name: str = NS) -> Resource:
    return Resource(TOKENS["Namespace"], {"metadata": {"name": name}}, name)


def service_account(name: str = "api", *, namespace: str = NS, automount: bool | None = False) -> Resource:
    props: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}}
    if automount is not None:
        props["automountServiceAccountToken"] = automount
    return Resource("kubernetes:core/v1:ServiceAccount", props, name)


def default_deny(ns: str = NS, **spec: Any) -> Resource:
    body = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec}
    return Resource(
        TOKENS["NetworkPolicy"], {"metadata": {"name": "default-deny", "namespace": ns}, "spec": body}, "default-deny"
    )


def blue_green(
    active: str = "blue",
    preview: str = "green",
    *,
    active_replicas: int = 2,
    idle_replicas: int = 0,
    env: str | None = None,
) -> list[Resource]:
    """Two coloured Deployments of `web` and the active/preview Services that switch them."""
    resources = []
    for colour in ("blue", "green"):
        extra = {"azora.io/color": colour, **({"azora.io/environment": env} if env else {})}
        count = active_replicas if colour == active else idle_replicas
        resources.append(workload("Deployment", f"web-{colour}", replicas=count, extra_labels=extra))
    for resource in resources:  # both colours are the app `web`, told apart by colour only
        resource.props["metadata"]["labels"]["app.kubernetes.io/name"] = "web"
        resource.props["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "web"
    for role, colour in (("active", active), ("preview", preview)):
        selector = {"app.kubernetes.io/name": "web", "azora.io/color": colour}
        resources.append(service(f"web-{role}", selector=selector, role=role, app="web"))
    resources.append(pdb("web"))
    return resources


def compliant_stack(env: str = "production") -> list[Resource]:
    """A whole compliant stack: every rule applies to something in it and none fires."""
    prod = {"azora.io/environment": env}
    return [
        namespace(),
        default_deny(),
        deployment(replicas=2, extra_labels=prod),
        pdb("api"),
        service("api"),
        ingress(),
        config_map(),
        hpa(),
        *blue_green(env=env),
        workload("Pod", "debug", replicas=None),  # owned by a ReplicaSet, as no-bare-pods asks
    ]


def edited(resource: Resource, *edits: tuple[PathT, Any]) -> Resource:
    """A deep copy of `resource` with each (path, value) set, or removed for DELETE."""
    props = copy.deepcopy(dict(resource.props))
    for path, value in edits:
        node: Any = props
        for part in path[:-1]:
            node = node[part]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return Resource(resource.type, props, resource.name, resource.urn)


# The relation rules report an advisory for every object whose partner (an HPA's target, a
# workload's namespace policy) is outside a small fixture; the other families' tests leave those
# out, test_policy_relations.py asks for them (`relations=True`). Mandatory ones always show.
RELATION_RULES = frozenset(rule.name for rule in relations.RULES)


def run(
    resources: list[Resource], raw_settings: Mapping[str, Any] | None = None, *, relations: bool = False
) -> list[Violation]:
    violations = evaluate(resources, parse_settings(raw_settings) if raw_settings is not None else None)
    if relations:
        return violations
    return [v for v in violations if not (v.policy in RELATION_RULES and v.enforcement == "advisory")]


def of(violations: list[Violation], rule: str) -> list[Violation]:
    return [v for v in violations if v.policy == rule]


def summary(violations: list[Violation]) -> list[tuple[str, str, str]]:
    return [(v.policy, v.enforcement, v.resource) for v in violations]


def as_pulumi_sends(resource: Resource) -> Resource:
    """Every int turned float, as a preview's protobuf Struct carries it."""

    def floats(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return float(value)
        if isinstance(value, Mapping):
            return {key: floats(item) for key, item in value.items()}
        if isinstance(value, list):
            return [floats(item) for item in value]
        return value

    return Resource(resource.type, floats(resource.props), resource.name)


def replaced(resources: list[Resource], display: str, *edits: tuple[PathT, Any]) -> list[Resource]:
    return [edited(r, *edits) if r.display == display else r for r in resources]


PRODUCTION = {"environment": "production"}


@dataclass(frozen=True)
class Case:
    rule: str
    id: str
    base: Callable[[], Resource]
    edits: tuple[tuple[PathT, Any], ...]
    message: str  # a key part of the message a reviewer acts on
    enforcement: str = "mandatory"
    settings: Mapping[str, Any] | None = None
    count: int = 1

    @property
    def param(self) -> Any:
        return pytest.param(self, id=f"{self.rule}:{self.id}")


def run_case(case: Case) -> tuple[Resource, list[Violation]]:
    """The case's object with its field broken, and the violations the engine reports for it."""
    subject = edited(case.base(), *case.edits)
    # A Service needs a workload to select, or service-selects-workload fires too.
    context = [deployment()] if subject.type == TOKENS["Service"] else []
    return subject, run([subject, *context], case.settings)


def run_variant(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> list[Violation]:
    """The violations of a variant (`base()` with `edits`); a Service gets a workload to select,
    and a pod the Secrets, ConfigMaps and claims it names."""
    subject = edited(base(), *edits)
    context = [deployment()] if subject.type == TOKENS["Service"] else []
    for ref in references.references(subject) if subject.type in WORKLOADS else ():
        if isinstance(ref, references.Reference):
            meta = {"name": ref.name, "namespace": subject.namespace}
            context.append(Resource(f"kubernetes:core/v1:{ref.kind}", {"metadata": meta}, str(ref.name)))
    return run([subject, *context])


def assert_trips_only_its_rule(case: Case) -> None:
    """The case's broken field trips its rule `case.count` times and no other rule, each time at
    the case's enforcement, on the broken object, with the case's message. (Its asserts are
    rewritten like a test module's: tests/unit/__init__.py registers this module.)"""
    subject, violations = run_case(case)

    assert {v.policy for v in violations} == {case.rule}, summary(violations)
    assert len(violations) == case.count
    for violation in violations:
        assert violation.enforcement == case.enforcement
        assert violation.resource == subject.display
        assert case.message in violation.message
