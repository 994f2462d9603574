"""Every policy rule, passing and failing, through the real engine (`evaluate`).

Resources are built by small builders that return *compliant* objects; each failing case
breaks one field of one of them. Assertions are on the violations the engine really
produces: policy name, enforcement, `Kind/namespace/name` and a key part of the message.

The last part drives the pulumi_policy SDK glue (`policy.adapters`) without a server: the
SDK's own unknown sentinels and proxies, and a policy's `validate` with real argument bags.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as sdk_proxy

from policy.adapters import plain, sdk_policies
from policy.rules.catalog import BY_NAME, RULE_NAMES, RULES
from policy.rules.engine import UNCHECKED_PREFIX, evaluate
from policy.rules.exemptions import EXEMPT_ANNOTATION, Exemption, exempted_rules, parse_exemptions
from policy.rules.model import UNKNOWN, Resource, Violation, whole_numbers
from policy.rules.settings import Settings, SettingsError, load_settings, parse_settings

# --------------------------------------------------------------------------------------
# Builders: each returns a fresh, compliant object (no dict is shared between calls, so a
# case can edit one field without touching another resource).
# --------------------------------------------------------------------------------------

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
    if kind == "Pod":
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


def run(resources: list[Resource], raw_settings: Mapping[str, Any] | None = None) -> list[Violation]:
    return evaluate(resources, parse_settings(raw_settings) if raw_settings is not None else None)


def of(violations: list[Violation], rule: str) -> list[Violation]:
    return [v for v in violations if v.policy == rule]


def unchecked(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.message.startswith(UNCHECKED_PREFIX)]


def summary(violations: list[Violation]) -> list[tuple[str, str, str]]:
    return [(v.policy, v.enforcement, v.resource) for v in violations]


# --------------------------------------------------------------------------------------
# Passing: compliant objects produce no violation at all.
# --------------------------------------------------------------------------------------


def test_catalog_names_are_unique_and_indexed() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert set(BY_NAME) == set(names) == RULE_NAMES


@pytest.mark.parametrize("env", ["production", "staging"])
def test_compliant_stack_has_no_violations(env: str) -> None:
    assert run(compliant_stack(env)) == []


def test_compliant_stack_exercises_every_resource_rule() -> None:
    # Otherwise "no violations" above could mean "nothing was looked at".
    resources = compliant_stack()
    idle = [rule.name for rule in RULES if not rule.stack and not any(rule.applies_to(r) for r in resources)]
    assert idle == []


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_compliant_workload_of_every_kind_passes(kind: str) -> None:
    assert run([workload(kind, spec=pod_spec(container(), init=(init_container(),)))]) == []


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        # A digest pins an image even without a tag, and even in production (a DaemonSet has
        # no replica floor, so nothing else applies to this production object).
        (
            lambda: workload("DaemonSet", extra_labels={"azora.io/environment": "production"}),
            ((POD_PATHS["DaemonSet"] + ("containers", 0, "image"), "ghcr.io/azora/api@sha256:" + "a" * 64),),
        ),
        (deployment, (((*C0, "image"), "ghcr.io/azora/api:v2.0.0-rc.1"),)),
        (deployment, (((*C0, "image"), "registry.k8s.io/pause:3.9"),)),
        (deployment, (((*C0, "image"), "bitnami/redis:7.2.4"),)),  # docker.io/bitnami/ is allowed
        (deployment, (((*SC, "capabilities", "add"), ["NET_BIND_SERVICE"]),)),
        # seccomp on the container instead of the pod; runAsNonRoot on the container only.
        (
            deployment,
            (
                ((*POD, "securityContext"), {}),
                ((*SC, "seccompProfile"), {"type": "Localhost", "localhostProfile": "p.json"}),
                ((*SC, "runAsNonRoot"), True),
            ),
        ),
        (deployment, (((*SC, "procMount"), "Default"),)),
        (
            deployment,
            (
                (
                    (*C0, "env"),
                    [
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    ],
                ),
            ),
        ),
        (deployment, (((*POD, "volumes"), [{"name": "tmp", "emptyDir": {}}]),)),
        (deployment, (((*C0, "ports", 0, "hostPort"), 0),)),
        (
            lambda: edited(
                service(),
                (("spec", "type"), "LoadBalancer"),
                ((*LABELS, "app.kubernetes.io/name"), "ingress-nginx"),
                (("spec", "selector"), {"app.kubernetes.io/name": "api"}),
            ),
            (),
        ),
        (
            lambda: edited(service(), (("spec", "type"), "ExternalName"), (("spec", "selector"), {"app": "elsewhere"})),
            (),
        ),
        (lambda: hpa(min_replicas=1, max_replicas=1), ()),  # not production: 1 is fine
    ],
    ids=[
        "digest-in-production",
        "semver-prerelease",
        "registry-k8s-io",
        "docker-hub-short-name",
        "net-bind-service",
        "container-level-seccomp",
        "proc-mount-default",
        "env-from-secret",
        "empty-dir",
        "host-port-zero",
        "ingress-controller-load-balancer",
        "external-name-service",
        "hpa-non-production",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    subject = edited(base(), *edits)
    context = [deployment()] if subject.type == TOKENS["Service"] else []
    assert run([subject, *context]) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------


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


def _init_without_resources() -> Resource:
    return edited(
        deployment(), ((*POD, "initContainers"), [{**init_container(), "resources": {"limits": {"cpu": "1"}}}])
    )


def _lb() -> Resource:
    return edited(service(), (("spec", "type"), "LoadBalancer"))


PRODUCTION = {"environment": "production"}

RESOURCE_CASES = [
    Case("image-tag-pinned", "latest", deployment, (((*C0, "image"), "ghcr.io/azora/api:latest"),), "uses 'latest'"),
    Case(
        "image-tag-pinned",
        "no-tag",
        deployment,
        (((*C0, "image"), "ghcr.io/azora/api"),),
        "'ghcr.io/azora/api' has no tag",
    ),
    Case(
        "image-tag-pinned",
        "production-branch-tag",
        deployment,
        (((*C0, "image"), "ghcr.io/azora/api:main"),),
        "production images need a semver tag",
        settings={"image-tag-pinned": PRODUCTION},
    ),
    Case(
        "allowed-registries",
        "docker-library",
        deployment,
        (((*C0, "image"), "nginx:1.25.3"),),
        "'nginx:1.25.3' is not from an allowed registry",
    ),
    Case(
        "allowed-registries",
        "lookalike-prefix",
        deployment,
        (((*C0, "image"), "ghcr.io/azora-mirror/api:1.4.2"),),
        "is not from an allowed registry",
    ),
    Case(
        "image-pull-policy",
        "always",
        deployment,
        (((*C0, "imagePullPolicy"), "Always"),),
        "pulls Always",
        enforcement="advisory",
    ),
    Case(
        "image-pull-policy",
        "unset",
        deployment,
        (((*C0, "imagePullPolicy"), DELETE),),
        "sets no imagePullPolicy",
        enforcement="advisory",
    ),
    Case(
        "resource-requests-limits",
        "no-memory-limit",
        deployment,
        (((*C0, "resources", "limits", "memory"), DELETE),),
        "container 'api' (spec.template.spec.containers[0]) sets no resources.limits.memory",
    ),
    Case(
        "resource-requests-limits",
        "init-container",
        _init_without_resources,
        (),
        "init container 'migrate' (spec.template.spec.initContainers[0]) sets no resources.requests.cpu, "
        "resources.requests.memory, resources.limits.memory",
    ),
    Case("health-probes", "no-readiness", deployment, (((*C0, "readinessProbe"), DELETE),), "has no readinessProbe"),
    Case(
        "health-probes",
        "no-probes",
        deployment,
        (((*C0, "readinessProbe"), DELETE), ((*C0, "livenessProbe"), DELETE)),
        "has no livenessProbe and no readinessProbe",
    ),
    Case("run-as-non-root", "uid-0", deployment, (((*SC, "runAsUser"), 0),), "runs as user 0"),
    Case(
        "run-as-non-root",
        "pod-allows-root",
        deployment,
        (((*POD, "securityContext", "runAsNonRoot"), False),),
        "does not set runAsNonRoot: true",
    ),
    Case(
        "run-as-non-root",
        "container-overrides-pod",
        deployment,
        (((*SC, "runAsNonRoot"), False),),
        "does not set runAsNonRoot: true",
    ),
    Case("no-privileged", "privileged", deployment, (((*SC, "privileged"), True),), "is privileged"),
    Case(
        "no-privilege-escalation",
        "true",
        deployment,
        (((*SC, "allowPrivilegeEscalation"), True),),
        "set securityContext.allowPrivilegeEscalation: false",
    ),
    Case(
        "no-privilege-escalation",
        "unset",
        deployment,
        (((*SC, "allowPrivilegeEscalation"), DELETE),),
        "allowPrivilegeEscalation: false",
    ),
    Case(
        "read-only-root-filesystem",
        "writable",
        deployment,
        (((*SC, "readOnlyRootFilesystem"), False),),
        "set securityContext.readOnlyRootFilesystem: true",
    ),
    Case(
        "drop-all-capabilities",
        "drops-nothing",
        deployment,
        (((*SC, "capabilities"), {"drop": ["NET_RAW"]}),),
        "does not drop ALL capabilities",
    ),
    Case(
        "drop-all-capabilities",
        "adds-sys-admin",
        deployment,
        (((*SC, "capabilities", "add"), ["SYS_ADMIN", "NET_BIND_SERVICE"]),),
        "adds capabilities SYS_ADMIN;",
    ),
    Case(
        "seccomp-profile",
        "unconfined",
        deployment,
        (((*POD, "securityContext", "seccompProfile", "type"), "Unconfined"),),
        "has seccomp profile 'Unconfined'",
    ),
    Case(
        "seccomp-profile",
        "unset",
        deployment,
        (((*POD, "securityContext", "seccompProfile"), DELETE),),
        "has seccomp profile none",
    ),
    Case(
        "default-proc-mount", "unmasked", deployment, (((*SC, "procMount"), "Unmasked"),), "uses procMount 'Unmasked'"
    ),
    Case(
        "no-service-account-token",
        "true",
        deployment,
        (((*POD, "automountServiceAccountToken"), True),),
        "spec.template.spec.automountServiceAccountToken is not false",
    ),
    Case(
        "no-service-account-token",
        "unset",
        deployment,
        (((*POD, "automountServiceAccountToken"), DELETE),),
        "automountServiceAccountToken is not false",
    ),
    Case(
        "no-host-namespaces", "host-pid", deployment, (((*POD, "hostPID"), True),), "spec.template.spec.hostPID is true"
    ),
    Case(
        "no-host-namespaces",
        "all-three",
        deployment,
        (((*POD, "hostNetwork"), True), ((*POD, "hostPID"), True), ((*POD, "hostIPC"), True)),
        "is true",
        count=3,
    ),
    Case(
        "no-host-path",
        "docker-socket",
        deployment,
        (
            (
                (*POD, "volumes"),
                [{"name": "tmp", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}],
            ),
        ),
        "volume 'docker' (spec.template.spec.volumes[1]) is a hostPath",
    ),
    Case(
        "no-host-port",
        "host-port",
        deployment,
        (((*C0, "ports", 0, "hostPort"), 8080),),
        "container 'api' binds hostPort 8080",
    ),
    Case(
        "recommended-labels",
        "object",
        deployment,
        (((*LABELS, "app.kubernetes.io/part-of"), DELETE),),
        "metadata.labels lacks app.kubernetes.io/part-of",
    ),
    Case(
        "recommended-labels",
        "pod-template",
        deployment,
        ((("spec", "template", "metadata", "labels", "app.kubernetes.io/name"), DELETE),),
        "the pod template's labels lack app.kubernetes.io/name",
    ),
    Case(
        "recommended-labels",
        "service",
        lambda: edited(service(), (LABELS, {})),
        (),
        "lacks app.kubernetes.io/name, app.kubernetes.io/part-of",
    ),
    Case(
        "no-default-namespace",
        "default",
        lambda: deployment(namespace="default"),
        (),
        "runs in the 'default' namespace",
    ),
    Case(
        "no-default-namespace",
        "unset",
        lambda: deployment(namespace=None),
        (),
        "metadata.namespace is not set, so it lands in 'default'",
    ),
    Case(
        "policy-exemption-reason",
        "no-reason",
        deployment,
        ((("metadata", "annotations"), {EXEMPT_ANNOTATION: "no-host-path"}),),
        "exempts 'no-host-path' without a reason; write 'no-host-path: <why>'",
    ),
    Case(
        "policy-exemption-reason",
        "unknown-rule",
        config_map,
        ((("metadata", "annotations"), {EXEMPT_ANNOTATION: "no-such-rule: legacy"}),),
        "names unknown rule 'no-such-rule'",
    ),
    Case(
        "no-plaintext-secrets",
        "secret-name",
        deployment,
        (((*C0, "env"), [{"name": "DB_PASSWORD", "value": "hunter2"}]),),
        "sets DB_PASSWORD in plain text",
    ),
    Case(
        "no-plaintext-secrets",
        "credential-url",
        deployment,
        (((*C0, "env"), [{"name": "DATABASE", "value": "postgres://app:hunter2@db:5432/app"}]),),
        "env DATABASE holds what looks like a credential",
    ),
    Case(
        "no-secrets-in-configmaps",
        "secret-key",
        lambda: config_map(data={"api_token": "abc"}),
        (),
        "ConfigMap key 'api_token' looks like a secret",
    ),
    Case(
        "no-secrets-in-configmaps",
        "private-key-value",
        lambda: config_map(data={"tls.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n"}),
        (),
        "ConfigMap key 'tls.pem' holds what looks like a credential",
    ),
    Case(
        "production-min-replicas",
        "one-replica",
        deployment,
        (),
        "spec.replicas is 1; production needs at least 2",
        settings={"production-min-replicas": PRODUCTION},
    ),
    Case(
        "production-min-replicas",
        "unset-means-one",
        deployment,
        ((("spec", "replicas"), DELETE),),
        "spec.replicas is 1",
        settings={"production-min-replicas": PRODUCTION},
    ),
    # StatefulSets are not covered by pdb-coverage, so this break trips one rule only.
    Case(
        "spread-replicas",
        "no-spread",
        lambda: statefulset(replicas=3),
        (((*POD, "topologySpreadConstraints"), DELETE),),
        "3 replicas without topologySpreadConstraints or podAntiAffinity",
        enforcement="advisory",
    ),
    Case("no-node-port", "node-port", service, ((("spec", "type"), "NodePort"),), "spec.type is NodePort"),
    Case("load-balancer-ingress-only", "app-lb", _lb, (), "is not an ingress controller (app.kubernetes.io/name 'api'"),
    Case(
        "no-external-ips",
        "external-ips",
        service,
        ((("spec", "externalIPs"), ["203.0.113.10"]),),
        "spec.externalIPs is set (203.0.113.10)",
    ),
    Case("ingress-tls", "no-tls", ingress, ((("spec", "tls"), DELETE),), "spec.tls is empty"),
    Case(
        "ingress-tls",
        "uncovered-host",
        ingress,
        ((("spec", "rules"), [{"host": "api.azora.example"}, {"host": "admin.azora.example"}]),),
        "host 'admin.azora.example' has no tls entry",
    ),
    Case(
        "hpa-sanity",
        "min-above-max",
        lambda: hpa(min_replicas=5, max_replicas=3),
        (),
        "minReplicas 5 is above maxReplicas 3",
        enforcement="advisory",
    ),
    Case(
        "hpa-sanity",
        "production-min-one",
        lambda: hpa(min_replicas=1),
        (),
        "minReplicas is 1; production autoscalers keep at least 2",
        enforcement="advisory",
        settings={"hpa-sanity": PRODUCTION},
    ),
]


@pytest.mark.parametrize("case", [case.param for case in RESOURCE_CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    subject = edited(case.base(), *case.edits)
    # A Service needs a workload to select, or service-selects-workload fires too.
    context = [deployment()] if subject.type == TOKENS["Service"] else []
    violations = run([subject, *context], case.settings)

    assert {v.policy for v in violations} == {case.rule}, summary(violations)
    assert len(violations) == case.count
    for violation in violations:
        assert violation.enforcement == case.enforcement
        assert violation.resource == subject.display
        assert case.message in violation.message


def test_resource_display_names_kind_namespace_and_name() -> None:
    assert deployment().display == "Deployment/shop/api"
    assert deployment(namespace=None).display == "Deployment/-/api"
    assert namespace("shop").display == "Namespace/-/shop"
    assert edited(deployment(), (("metadata", "namespace"), UNKNOWN)).display == "Deployment/?/api"


# --------------------------------------------------------------------------------------
# Workload kinds: each reaches its pod template and its init containers.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_every_kind_checks_its_containers_and_init_containers(kind: str) -> None:
    main = container()
    main["securityContext"]["privileged"] = True
    init = init_container()
    init["image"] = "ghcr.io/azora/api-migrate:latest"
    resource = workload(kind, spec=pod_spec(main, init=(init,)))
    base = ".".join(str(part) for part in POD_PATHS[kind])

    violations = run([resource])

    assert summary(violations) == [
        ("image-tag-pinned", "mandatory", resource.display),
        ("no-privileged", "mandatory", resource.display),
    ]
    assert f"{base}.initContainers[0].image 'ghcr.io/azora/api-migrate:latest' uses 'latest'" in violations[0].message
    assert f"container 'api' ({base}.containers[0]) is privileged" in violations[1].message


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_pod_level_settings_are_read_at_each_kinds_path(kind: str) -> None:
    pod = pod_spec()
    pod["hostNetwork"] = True
    resource = workload(kind, spec=pod)
    base = ".".join(str(part) for part in POD_PATHS[kind])
    assert [(v.policy, v.message) for v in run([resource])] == [
        ("no-host-namespaces", f"{base}.hostNetwork is true; remove it")
    ]


@pytest.mark.parametrize(
    ("kind", "expected"), [("Job", []), ("CronJob", []), ("Pod", ["health-probes"]), ("DaemonSet", ["health-probes"])]
)
def test_probes_are_required_only_of_long_running_kinds(kind: str, expected: list[str]) -> None:
    bare = container()
    del bare["livenessProbe"], bare["readinessProbe"]
    assert [v.policy for v in run([workload(kind, spec=pod_spec(bare))])] == expected


# --------------------------------------------------------------------------------------
# Exemptions: `azora.io/policy-exempt: "<rule>: <reason>"`.
# --------------------------------------------------------------------------------------


def _host_path_deployment(annotation: str | None) -> Resource:
    resource = edited(
        deployment(), ((*POD, "volumes"), [{"name": "proc", "hostPath": {"path": "/proc"}}]), ((*POD, "hostPID"), True)
    )
    if annotation is not None:
        resource = edited(resource, (("metadata", "annotations"), {EXEMPT_ANNOTATION: annotation}))
    return resource


def test_exemption_with_reason_suppresses_exactly_that_rule() -> None:
    assert {v.policy for v in run([_host_path_deployment(None)])} == {"no-host-path", "no-host-namespaces"}
    violations = run([_host_path_deployment("no-host-path: node exporter reads the host's /proc")])
    assert summary(violations) == [("no-host-namespaces", "mandatory", "Deployment/shop/api")]


def test_exemption_without_reason_does_not_suppress_and_is_reported() -> None:
    violations = run([_host_path_deployment("no-host-path")])
    assert {v.policy for v in violations} == {"no-host-path", "no-host-namespaces", "policy-exemption-reason"}
    (reason,) = of(violations, "policy-exemption-reason")
    assert reason.enforcement == "mandatory"
    assert "exempts 'no-host-path' without a reason" in reason.message


def test_several_exemptions_by_semicolon_and_newline() -> None:
    annotation = "no-host-path: reads /proc;\nno-host-namespaces: needs the host PID namespace to see processes"
    assert run([_host_path_deployment(annotation)]) == []


def test_exemption_of_a_stack_rule_applies_to_the_resource_it_names() -> None:
    lonely = deployment(replicas=3)
    assert [v.policy for v in run([lonely])] == ["pdb-coverage"]
    exempt = edited(
        lonely, (("metadata", "annotations"), {EXEMPT_ANNOTATION: "pdb-coverage: batch API, drains are fine"})
    )
    assert run([exempt]) == []


def test_parse_exemptions() -> None:
    assert parse_exemptions(" a: why ; b ;\nc:because: really ") == [
        Exemption("a", "why"),
        Exemption("b", ""),
        Exemption("c", "because: really"),
    ]
    assert exempted_rules({EXEMPT_ANNOTATION: "a: why; b"}) == {"a"}
    assert exempted_rules({}) == set()
    assert exempted_rules(None) == set()


# --------------------------------------------------------------------------------------
# Settings: levels, `all`, options, and errors that say what is wrong.
# --------------------------------------------------------------------------------------


def _pulls_always() -> Resource:
    return edited(deployment(), ((*C0, "imagePullPolicy"), "Always"), ((*SC, "privileged"), True))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("image-pull-policy", "advisory"), ("no-privileged", "mandatory")]),
        ({"image-pull-policy": "mandatory"}, [("image-pull-policy", "mandatory"), ("no-privileged", "mandatory")]),
        (
            {"no-privileged": {"enforcementLevel": "advisory"}},
            [("image-pull-policy", "advisory"), ("no-privileged", "advisory")],
        ),
        ({"image-pull-policy": "disabled"}, [("no-privileged", "mandatory")]),
        ({"all": "advisory"}, [("image-pull-policy", "advisory"), ("no-privileged", "advisory")]),
        ({"all": {"enforcementLevel": "disabled"}}, []),
        # A rule's own entry wins over `all`, wherever it stands in the object.
        ({"no-privileged": "mandatory", "all": "disabled"}, [("no-privileged", "mandatory")]),
    ],
    ids=["defaults", "raise-advisory", "lower-mandatory", "disable", "all-advisory", "all-disabled", "rule-beats-all"],
)
def test_levels(raw: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [(v.policy, v.enforcement) for v in run([_pulls_always()], raw)] == expected


def test_allowed_registries_option_replaces_the_default_list() -> None:
    nginx = edited(deployment(), ((*C0, "image"), "nginx:1.25.3"))
    settings = {"allowed-registries": {"registries": ["docker.io/library/"]}}
    assert run([nginx], settings) == []
    (violation,) = run([deployment()], settings)
    assert violation.policy == "allowed-registries"
    assert "(docker.io/library/)" in violation.message


def test_min_replicas_option() -> None:
    two = deployment(replicas=2, extra_labels={"azora.io/environment": "production"})
    assert run([two, pdb()]) == []
    (violation,) = run([two, pdb()], {"production-min-replicas": {"minReplicas": 3}})
    assert (violation.policy, violation.enforcement) == ("production-min-replicas", "mandatory")
    assert "spec.replicas is 2; production needs at least 3" in violation.message


def test_ingress_controllers_option() -> None:
    assert run([_lb(), deployment()], {"load-balancer-ingress-only": {"ingressControllers": ["api"]}}) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"no-such-rule": "mandatory"}, "policy config: unknown rule 'no-such-rule'"),
        (
            {"allowed-registries": {"registry": ["x/"]}},
            "allowed-registries has no option 'registry' (options: registries)",
        ),
        ({"no-privileged": {"minReplicas": 3}}, "no-privileged has no option 'minReplicas' (options: none)"),
        (
            {"no-privileged": "warn"},
            "no-privileged.enforcementLevel must be one of mandatory, advisory, disabled, got 'warn'",
        ),
        ({"all": "strict"}, "all must be one of mandatory, advisory, disabled, got 'strict'"),
        ({"no-privileged": 1}, "no-privileged must be a level or an object"),
        (
            {"production-min-replicas": {"minReplicas": "3"}},
            "production-min-replicas.minReplicas must be of type integer, got '3'",
        ),
        ({"production-min-replicas": {"minReplicas": True}}, "must be of type integer, got True"),
        ({"production-min-replicas": {"minReplicas": 0}}, "production-min-replicas.minReplicas must be >= 1, got 0"),
        (
            {"image-tag-pinned": {"environment": "prod"}},
            "image-tag-pinned.environment must be one of ['local', 'staging', 'production'], got 'prod'",
        ),
        (
            {"allowed-registries": {"registries": "ghcr.io/azora/"}},
            "allowed-registries.registries must be of type array",
        ),
    ],
    ids=[
        "unknown-rule",
        "unknown-option",
        "rule-without-options",
        "bad-level",
        "bad-all",
        "bad-entry",
        "string-int",
        "bool-int",
        "below-minimum",
        "bad-enum",
        "string-array",
    ],
)
def test_invalid_settings_say_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw)
    assert message in str(caught.value)


def test_settings_must_be_an_object() -> None:
    with pytest.raises(SettingsError, match="must be a JSON object"):
        parse_settings(["no-privileged"])  # type: ignore[arg-type]


def test_load_settings_names_the_file_and_line(tmp_path: Any) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"all": "advisory", "production-min-replicas": {"minReplicas": 3}}')
    settings = load_settings(good)
    assert settings.level(BY_NAME["no-privileged"]) == "advisory"
    assert settings.options_for(BY_NAME["production-min-replicas"]) == {"minReplicas": 3, "environment": None}

    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "all": "advisory",\n  oops\n}')
    with pytest.raises(SettingsError, match=r"broken\.json:3: not valid JSON"):
        load_settings(broken)
    with pytest.raises(SettingsError, match=r"missing\.json: cannot read"):
        load_settings(tmp_path / "missing.json")
    unknown_rule = tmp_path / "unknown.json"
    unknown_rule.write_text('{"no-such-rule": "advisory"}')
    with pytest.raises(SettingsError, match=r"unknown\.json: unknown rule 'no-such-rule'"):
        load_settings(unknown_rule)


def test_null_option_is_rejected_or_means_the_default() -> None:
    # BUG (settings.py:50 `_check_option` skips type checks for None; scaling.py:28 and stack.py:139
    # then do int(None)): a config that parses must not crash the evaluation.
    raw = {"production-min-replicas": {"minReplicas": None}, "blue-green-pair": {"minReplicas": None}}
    try:
        settings = parse_settings(raw)
    except SettingsError:
        return  # rejecting null is a fine answer
    resources = [deployment(extra_labels={"azora.io/environment": "production"}), *blue_green(env="production")]
    evaluate(resources, settings)  # treating null as the default is the other one


# --------------------------------------------------------------------------------------
# Numbers as Pulumi sends them: every number is a float on the wire.
# --------------------------------------------------------------------------------------


def test_whole_numbers() -> None:
    assert whole_numbers({"a": [3.0, 2.5, {"b": 0.0}], "c": True, "d": "1.0", "e": 7}) == {
        "a": [3, 2.5, {"b": 0}],
        "c": True,
        "d": "1.0",
        "e": 7,
    }
    assert type(whole_numbers(3.0)) is int


def _as_pulumi_sends(resource: Resource) -> Resource:
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


def test_floats_from_pulumi_behave_like_ints_after_whole_numbers() -> None:
    prod = {"azora.io/environment": "production"}
    resources = [
        edited(
            deployment(replicas=1, extra_labels=prod), ((*SC, "runAsUser"), 0), ((*C0, "ports", 0, "hostPort"), 8080)
        ),
        edited(statefulset(replicas=3), ((*POD, "topologySpreadConstraints"), DELETE)),
        deployment("cart", replicas=3),
        pdb("cart", maxUnavailable=0),
        hpa(min_replicas=4, max_replicas=3),
    ]
    floated = [_as_pulumi_sends(r) for r in resources]
    assert floated[0].props["spec"]["replicas"] == 1.0 and isinstance(floated[0].props["spec"]["replicas"], float)

    restored = [Resource(r.type, whole_numbers(r.props), r.name) for r in floated]
    expected = run(resources)
    assert run(restored) == expected
    messages = {v.policy: v.message for v in expected}
    assert set(messages) == {
        "run-as-non-root",
        "no-host-port",
        "production-min-replicas",
        "spread-replicas",
        "pdb-coverage",
        "hpa-sanity",
    }
    assert "runs as user 0" in messages["run-as-non-root"]
    assert "binds hostPort 8080;" in messages["no-host-port"]
    assert "spec.replicas is 1; production" in messages["production-min-replicas"]
    assert messages["spread-replicas"].startswith("3 replicas")
    assert "allows no disruption of its 3 replicas" in messages["pdb-coverage"]
    assert "minReplicas 4 is above maxReplicas 3" in messages["hpa-sanity"]


# --------------------------------------------------------------------------------------
# Production-only rules: by the azora.io/environment label or the `environment` option.
# --------------------------------------------------------------------------------------


def _branch_tagged_single(extra_labels: Mapping[str, str] | None = None, template_only: bool = False) -> Resource:
    resource = edited(deployment(extra_labels=extra_labels), ((*C0, "image"), "ghcr.io/azora/api:main-3f2a1c"))
    if template_only:  # the label only on the pod template still says which environment
        resource = edited(resource, ((*LABELS, "azora.io/environment"), DELETE))
    return resource


@pytest.mark.parametrize(
    ("resource", "raw", "expected"),
    [
        (_branch_tagged_single(), None, set()),
        (_branch_tagged_single({"azora.io/environment": "staging"}), None, set()),
        (
            _branch_tagged_single({"azora.io/environment": "production"}),
            None,
            {"image-tag-pinned", "production-min-replicas"},
        ),
        (
            _branch_tagged_single({"azora.io/environment": "production"}, template_only=True),
            None,
            {"image-tag-pinned", "production-min-replicas"},
        ),
        (
            _branch_tagged_single(),
            {"image-tag-pinned": PRODUCTION, "production-min-replicas": PRODUCTION},
            {"image-tag-pinned", "production-min-replicas"},
        ),
        # The label beats the option: a staging object in a production-configured run.
        (
            _branch_tagged_single({"azora.io/environment": "staging"}),
            {"image-tag-pinned": PRODUCTION, "production-min-replicas": PRODUCTION},
            set(),
        ),
    ],
    ids=[
        "no-environment",
        "staging-label",
        "production-label",
        "production-template-label",
        "production-option",
        "label-beats-option",
    ],
)
def test_production_only_rules(resource: Resource, raw: Mapping[str, Any] | None, expected: set[str]) -> None:
    violations = run([resource], raw)
    assert {v.policy for v in violations} == expected
    assert all(v.enforcement == "mandatory" for v in violations)


# --------------------------------------------------------------------------------------
# Stack rules: they see every resource at once.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackCase:
    rule: str
    id: str
    resources: Callable[[], list[Resource]]
    resource: str  # the display of the resource the violation names
    message: str
    settings: Mapping[str, Any] | None = None
    also: frozenset[str] = field(default_factory=frozenset)

    @property
    def param(self) -> Any:
        return pytest.param(self, id=f"{self.rule}:{self.id}")


def _replaced(resources: list[Resource], display: str, *edits: tuple[PathT, Any]) -> list[Resource]:
    return [edited(r, *edits) if r.display == display else r for r in resources]


STACK_CASES = [
    StackCase(
        "pdb-coverage",
        "no-budget",
        lambda: [deployment(replicas=2)],
        "Deployment/shop/api",
        "2 replicas but no PodDisruptionBudget selects its pods",
    ),
    StackCase(
        "pdb-coverage",
        "budget-in-other-namespace",
        lambda: [deployment(replicas=2), pdb(namespace="other")],
        "Deployment/shop/api",
        "no PodDisruptionBudget selects its pods",
    ),
    StackCase(
        "pdb-coverage",
        "max-unavailable-0",
        lambda: [deployment(replicas=3), pdb(maxUnavailable=0)],
        "Deployment/shop/api",
        "the PodDisruptionBudget (PodDisruptionBudget/shop/api) allows no disruption of its 3 replicas",
    ),
    StackCase(
        "pdb-coverage",
        "min-available-all",
        lambda: [deployment(replicas=3), pdb(minAvailable=3)],
        "Deployment/shop/api",
        "allows no disruption of its 3 replicas, so nodes cannot drain",
    ),
    StackCase(
        "pdb-coverage",
        "min-available-100%",
        lambda: [deployment(replicas=3), pdb(minAvailable="100%")],
        "Deployment/shop/api",
        "allows no disruption",
    ),
    StackCase(
        "namespace-default-deny", "none", lambda: [namespace()], "Namespace/-/shop", "has no default-deny NetworkPolicy"
    ),
    StackCase(
        "namespace-default-deny",
        "policy-elsewhere",
        lambda: [namespace(), default_deny("other")],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "namespace-default-deny",
        "allows-ingress",
        lambda: [namespace(), default_deny(ingress=[{"from": [{"podSelector": {}}]}])],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "namespace-default-deny",
        "selects-some-pods",
        lambda: [namespace(), default_deny(podSelector={"matchLabels": {"app.kubernetes.io/name": "api"}})],
        "Namespace/-/shop",
        "has no default-deny NetworkPolicy",
    ),
    StackCase(
        "service-selects-workload",
        "dangling",
        lambda: [deployment(), service(selector={"app.kubernetes.io/name": "ghost"})],
        "Service/shop/api",
        "spec.selector (app.kubernetes.io/name=ghost) selects no workload's pods in this stack",
    ),
    StackCase(
        "service-selects-workload",
        "workload-in-other-namespace",
        lambda: [deployment(namespace="other"), service()],
        "Service/shop/api",
        "selects no workload's pods",
    ),
    StackCase(
        "blue-green-pair",
        "same-colour",
        lambda: blue_green(active="blue", preview="blue"),
        "Service/shop/web-preview",
        "active and preview Services of 'web' both select 'blue'; the preview must select the idle colour",
    ),
    StackCase(
        "blue-green-pair",
        "active-colour-at-zero",
        lambda: blue_green(active="blue", active_replicas=0, idle_replicas=2),
        "Deployment/shop/web-blue",
        "the active colour 'blue' of 'web' has 0 replicas, so the active Service has no endpoints",
    ),
    StackCase(
        "blue-green-pair",
        "active-without-colour",
        lambda: _replaced(
            blue_green(), "Service/shop/web-active", (("spec", "selector"), {"app.kubernetes.io/name": "web"})
        ),
        "Service/shop/web-active",
        "the active Service of 'web' does not select a colour (azora.io/color)",
    ),
    StackCase(
        "blue-green-pair",
        "production-floor-by-label",
        lambda: blue_green(active_replicas=1, env="production"),
        "Deployment/shop/web-blue",
        "the active colour 'blue' of 'web' runs 1 replicas; production needs at least 2",
    ),
    StackCase(
        "blue-green-pair",
        "production-floor-by-option",
        lambda: blue_green(active_replicas=1),
        "Deployment/shop/web-blue",
        "runs 1 replicas; production needs at least 2",
        settings={"blue-green-pair": PRODUCTION},
    ),
    StackCase(
        "blue-green-pair",
        "production-floor-min-replicas",
        lambda: blue_green(active_replicas=2, env="production"),
        "Deployment/shop/web-blue",
        "runs 2 replicas; production needs at least 3",
        settings={"blue-green-pair": {"minReplicas": 3}},
    ),
]


@pytest.mark.parametrize("case", [case.param for case in STACK_CASES])
def test_stack_rule_failing(case: StackCase) -> None:
    violations = run(case.resources(), case.settings)
    assert {v.policy for v in violations} == {case.rule} | case.also, summary(violations)
    (violation,) = of(violations, case.rule)
    assert (violation.enforcement, violation.resource) == ("mandatory", case.resource)
    assert case.message in violation.message


@pytest.mark.parametrize(
    "resources",
    [
        lambda: [deployment(replicas=2), pdb(maxUnavailable=1)],
        lambda: [deployment(replicas=2), pdb(minAvailable=1)],
        lambda: [deployment(replicas=2), pdb(maxUnavailable="50%")],
        lambda: [deployment(replicas=4), pdb(minAvailable="50%")],
        lambda: [
            deployment(replicas=3),
            edited(
                pdb(),
                (
                    ("spec", "selector"),
                    {
                        "matchExpressions": [
                            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["api", "web"]}
                        ]
                    },
                ),
            ),
        ],
        lambda: [deployment(replicas=1)],  # a single replica needs no budget
        lambda: [namespace(), default_deny()],
        lambda: [namespace(), default_deny(policyTypes=["Ingress"])],
        lambda: [deployment(), service()],
        lambda: [workload("Job", "report"), service("report")],  # any workload kind can be selected
        lambda: [deployment(), edited(service(), (("spec", "selector"), DELETE))],  # selector-less: endpoints by hand
        lambda: blue_green(),
        lambda: blue_green(active="green", preview="blue"),
        lambda: blue_green(active_replicas=3, idle_replicas=0, env="production"),  # idle colour at 0 is fine
        lambda: [s for s in blue_green() if s.display != "Service/shop/web-preview"],  # active only
    ],
    ids=[
        "max-unavailable-1",
        "min-available-1",
        "max-unavailable-50%",
        "min-available-50%",
        "match-expressions",
        "single-replica",
        "default-deny",
        "default-deny-ingress-only",
        "service-selects",
        "service-selects-job",
        "no-selector",
        "blue-green",
        "switched",
        "production-idle-zero",
        "active-only",
    ],
)
def test_stack_rule_passing(resources: Callable[[], list[Resource]]) -> None:
    assert run(resources()) == []


def test_production_min_replicas_leaves_colours_to_blue_green_pair() -> None:
    # The idle colour runs 0 replicas in production: not a production-min-replicas violation.
    resources = blue_green(active_replicas=2, idle_replicas=0, env="production")
    assert run(resources, {"production-min-replicas": PRODUCTION}) == []


def test_pdb_max_unavailable_percentage_rounds_up_like_kubernetes() -> None:
    # BUG stack.py:44 `_allows_disruption` rounds a maxUnavailable percentage *down*
    # (int(3 * 0.10) == 0) and reports "allows no disruption". Kubernetes rounds it up
    # (disruption controller, GetScaledValueFromIntOrPercent(..., roundUp=true); documented
    # under "Rounding logic when specifying percentages"): 10% of 3 pods allows 1 eviction.
    assert run([deployment(replicas=3), pdb(maxUnavailable="10%")]) == []


def test_every_rule_has_a_failing_case() -> None:
    covered = {case.rule for case in RESOURCE_CASES} | {case.rule for case in STACK_CASES}
    assert covered == RULE_NAMES


# --------------------------------------------------------------------------------------
# Unknown values during preview: known parts still checked, unknown parts named.
# --------------------------------------------------------------------------------------


def test_unknowns_do_not_hide_known_violations() -> None:
    resource = edited(
        deployment(),
        ((*C0, "image"), UNKNOWN),  # e.g. the digest of an image another resource builds
        ((*POD, "securityContext", "runAsUser"), UNKNOWN),
        ((*SC, "privileged"), True),  # known violations alongside
        ((*POD, "hostNetwork"), True),
        ((*C0, "resources"), {}),
    )
    violations = run([resource])

    assert sorted((v.policy, v.enforcement) for v in violations if not v.message.startswith(UNCHECKED_PREFIX)) == [
        ("no-host-namespaces", "mandatory"),
        ("no-privileged", "mandatory"),
        ("resource-requests-limits", "mandatory"),
    ]
    assert sorted((v.policy, v.enforcement, v.message) for v in unchecked(violations)) == [
        (
            "allowed-registries",
            "advisory",
            UNCHECKED_PREFIX
            + "spec.template.spec.containers[0].image is not known during preview; it is checked again on update",
        ),
        (
            "image-tag-pinned",
            "advisory",
            UNCHECKED_PREFIX
            + "spec.template.spec.containers[0].image is not known during preview; it is checked again on update",
        ),
        (
            "run-as-non-root",
            "advisory",
            UNCHECKED_PREFIX
            + "spec.template.spec.containers[0].securityContext.runAsNonRoot is not known during preview; "
            "it is checked again on update",
        ),
    ]
    assert all(v.resource == "Deployment/shop/api" for v in violations)


def test_an_unknown_rule_level_is_advisory_even_for_mandatory_rules() -> None:
    violations = run([edited(deployment(), ((*SC, "privileged"), UNKNOWN))], {"all": "mandatory"})
    assert summary(violations) == [("no-privileged", "advisory", "Deployment/shop/api")]


@pytest.mark.parametrize(
    ("rule", "base", "path", "named"),
    [
        ("image-pull-policy", deployment, (*C0, "imagePullPolicy"), "containers[0].imagePullPolicy"),
        (
            "resource-requests-limits",
            deployment,
            (*C0, "resources", "limits", "cpu"),
            "containers[0].resources.limits.cpu",
        ),
        ("health-probes", deployment, (*C0, "livenessProbe"), "containers[0].livenessProbe"),
        (
            "no-privilege-escalation",
            deployment,
            (*SC, "allowPrivilegeEscalation"),
            "securityContext.allowPrivilegeEscalation",
        ),
        (
            "read-only-root-filesystem",
            deployment,
            (*SC, "readOnlyRootFilesystem"),
            "securityContext.readOnlyRootFilesystem",
        ),
        ("drop-all-capabilities", deployment, (*SC, "capabilities"), "securityContext.capabilities"),
        (
            "seccomp-profile",
            deployment,
            (*POD, "securityContext", "seccompProfile", "type"),
            "securityContext.seccompProfile",
        ),
        ("default-proc-mount", deployment, (*SC, "procMount"), "securityContext.procMount"),
        (
            "no-service-account-token",
            deployment,
            (*POD, "automountServiceAccountToken"),
            "spec.automountServiceAccountToken",
        ),
        ("no-host-namespaces", deployment, (*POD, "hostIPC"), "spec.template.spec.hostIPC"),
        ("no-host-path", deployment, (*POD, "volumes"), "spec.template.spec.volumes"),
        ("no-host-port", deployment, (*C0, "ports", 0, "hostPort"), "containers[0].ports[0].hostPort"),
        ("recommended-labels", deployment, ("spec", "template", "metadata", "labels"), "pod template labels"),
        ("no-default-namespace", deployment, ("metadata", "namespace"), "metadata.namespace"),
        (
            "policy-exemption-reason",
            deployment,
            ("metadata", "annotations"),
            f"metadata.annotations.{EXEMPT_ANNOTATION}",
        ),
        (
            "no-plaintext-secrets",
            lambda: edited(deployment(), ((*C0, "env"), [{"name": "DB_HOST", "value": "x"}])),
            (*C0, "env", 0, "value"),
            "containers[0].env[0].value",
        ),
        ("no-secrets-in-configmaps", config_map, ("data",), "data"),
        ("spread-replicas", statefulset, ("spec", "replicas"), "spec.replicas"),
        ("no-node-port", service, ("spec", "type"), "spec.type"),
        ("load-balancer-ingress-only", service, ("spec", "type"), "spec.type"),
        ("no-external-ips", service, ("spec", "externalIPs"), "spec.externalIPs"),
        ("ingress-tls", ingress, ("spec", "tls"), "spec.tls"),
        ("hpa-sanity", hpa, ("spec", "maxReplicas"), "spec.minReplicas"),
    ],
)
def test_each_unknown_part_is_named_as_advisory(
    rule: str, base: Callable[[], Resource], path: PathT, named: str
) -> None:
    subject = base()
    if path == ("metadata", "annotations"):
        subject = edited(subject, (path, {EXEMPT_ANNOTATION: UNKNOWN}))
    else:
        subject = edited(subject, (path, UNKNOWN))
    context = [deployment("other")] if subject.type == TOKENS["Service"] else []
    mine = of(run([subject, *context]), rule)
    assert mine, f"{rule} said nothing about an unknown {named}"
    assert all(v.enforcement == "advisory" and v.message.startswith(UNCHECKED_PREFIX) for v in mine), summary(mine)
    assert any(named in v.message for v in mine), [v.message for v in mine]


@pytest.mark.parametrize(
    "path", [POD, (*POD, "containers"), ("spec", "template")], ids=["pod-spec", "containers", "template"]
)
def test_an_unknown_pod_spec_is_named_by_every_container_rule(path: PathT) -> None:
    violations = run([edited(deployment(), (path, UNKNOWN))])
    container_rules = {
        "image-tag-pinned",
        "allowed-registries",
        "image-pull-policy",
        "resource-requests-limits",
        "health-probes",
        "run-as-non-root",
        "no-privileged",
        "no-privilege-escalation",
        "read-only-root-filesystem",
        "drop-all-capabilities",
        "seccomp-profile",
        "default-proc-mount",
        "no-host-port",
        "no-plaintext-secrets",
    }
    assert container_rules <= {v.policy for v in violations}
    assert all(v.enforcement == "advisory" for v in violations), summary(violations)


def test_production_min_replicas_unknown_is_advisory() -> None:
    prod = deployment(extra_labels={"azora.io/environment": "production"})
    mine = of(run([edited(prod, (("spec", "replicas"), UNKNOWN))]), "production-min-replicas")
    assert [(v.enforcement, v.message) for v in mine] == [
        ("advisory", UNCHECKED_PREFIX + "spec.replicas is not known during preview; it is checked again on update")
    ]


@pytest.mark.parametrize(
    ("rule", "resources", "resource", "named"),
    [
        (
            "pdb-coverage",
            lambda: [edited(deployment(), (("spec", "replicas"), UNKNOWN))],
            "Deployment/shop/api",
            "spec.replicas",
        ),
        (
            "pdb-coverage",
            lambda: [deployment(replicas=3), pdb(maxUnavailable=UNKNOWN)],
            "Deployment/shop/api",
            "its PodDisruptionBudget",
        ),
        (
            "pdb-coverage",
            lambda: [edited(deployment(replicas=2), (("spec", "template", "metadata", "labels"), UNKNOWN))],
            "Deployment/shop/api",
            "the pod template labels",
        ),
        (
            "namespace-default-deny",
            lambda: [edited(namespace(), (("metadata", "name"), UNKNOWN))],
            "Namespace/-/?",
            "metadata.name",
        ),
        (
            "service-selects-workload",
            lambda: [deployment(), edited(service(), (("spec", "selector"), UNKNOWN))],
            "Service/shop/api",
            "spec.selector",
        ),
        (
            "service-selects-workload",
            lambda: [edited(deployment("x"), (("spec", "template", "metadata", "labels"), UNKNOWN)), service()],
            "Service/shop/api",
            "the pod labels it could select",
        ),
        (
            "blue-green-pair",
            lambda: _replaced(
                blue_green(), "Service/shop/web-active", (("spec", "selector", "azora.io/color"), UNKNOWN)
            ),
            "Service/shop/web-active",
            "spec.selector",
        ),
        (
            "blue-green-pair",
            lambda: _replaced(blue_green(), "Deployment/shop/web-blue", (("spec", "replicas"), UNKNOWN)),
            "Deployment/shop/web-blue",
            "spec.replicas",
        ),
    ],
    ids=[
        "replicas",
        "budget",
        "pod-labels",
        "namespace-name",
        "selector",
        "candidate-labels",
        "active-colour",
        "active-replicas",
    ],
)
def test_stack_rules_name_unknowns_as_advisory(
    rule: str, resources: Callable[[], list[Resource]], resource: str, named: str
) -> None:
    mine = of(run(resources()), rule)
    assert [(v.enforcement, v.resource) for v in mine] == [("advisory", resource)]
    assert mine[0].message.startswith(UNCHECKED_PREFIX) and named in mine[0].message


# Unknowns the rules get wrong: each test states what the contract ("a part a rule could not
# check is reported as an advisory, never silently passed", engine.py) requires.


def test_unknown_volume_entry_is_advisory_not_a_host_path() -> None:
    # BUG host_access.py:34 (check_host_path): `get(UNKNOWN, "hostPath")` is UNKNOWN, which `is not None`, so a
    # volume whose value is an Output is reported as a *mandatory* hostPath violation.
    resource = edited(deployment(), ((*POD, "volumes"), [{"name": "tmp", "emptyDir": {}}, UNKNOWN]))
    mine = of(run([resource]), "no-host-path")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)
    assert mine[0].message.startswith(UNCHECKED_PREFIX)


def test_unknown_dropped_capability_is_advisory_not_a_violation() -> None:
    # BUG security_context.py:87 (check_capabilities): `"ALL" not in [UNKNOWN]` reports a *mandatory*
    # "does not drop ALL" for a drop list whose element is not known yet.
    mine = of(run([edited(deployment(), ((*SC, "capabilities", "drop"), [UNKNOWN]))]), "drop-all-capabilities")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)


def test_unknown_added_capability_is_advisory_not_a_crash() -> None:
    # BUG security_context.py:92-96 (check_capabilities): `", ".join(sorted({UNKNOWN}))` raises TypeError, so the
    # whole evaluation (and the SDK policy) crashes on an unknown capabilities.add element.
    mine = of(run([edited(deployment(), ((*SC, "capabilities", "add"), [UNKNOWN]))]), "drop-all-capabilities")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)


def test_unknown_configmap_value_is_named_not_silently_passed() -> None:
    # BUG plaintext_secrets.py:57-60 (check_config_map): a value that is not a str is skipped, so an Output value
    # (e.g. a connection string built from a password) passes preview without a word.
    mine = of(run([config_map(data={"LOG_LEVEL": "info", "DATABASE_URL": UNKNOWN})]), "no-secrets-in-configmaps")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)
    assert "DATABASE_URL" in mine[0].message


def test_unknown_tls_hosts_are_advisory_not_a_crash() -> None:
    # BUG networking.py:55 (check_ingress_tls): `for host in (get(entry, "hosts") or [])` iterates UNKNOWN and raises
    # TypeError when an Ingress's TLS hosts come from an Output (a DNS name from another resource).
    resource = edited(ingress(), (("spec", "tls", 0, "hosts"), UNKNOWN))
    mine = of(run([resource]), "ingress-tls")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)


def test_unknown_preview_colour_is_named_not_silently_passed() -> None:
    # BUG stack.py:153-154 (check_blue_green): `preview_color == active_color` is False for UNKNOWN, so an unknown
    # preview colour is neither checked nor reported.
    resources = _replaced(blue_green(), "Service/shop/web-preview", (("spec", "selector", "azora.io/color"), UNKNOWN))
    mine = of(run(resources), "blue-green-pair")
    assert [(v.enforcement, v.resource) for v in mine] == [("advisory", "Service/shop/web-preview")]


# --------------------------------------------------------------------------------------
# The SDK glue: `plain()` over the SDK's sentinels and proxies, and policies' `validate`.
# --------------------------------------------------------------------------------------

SENTINELS = [
    sdk_proxy.UNKNOWN_BOOLEAN_VALUE,
    sdk_proxy.UNKNOWN_NUMBER_VALUE,
    sdk_proxy.UNKNOWN_STRING_VALUE,
    sdk_proxy.UNKNOWN_ARRAY_VALUE,
    sdk_proxy.UNKNOWN_ASSET_VALUE,
    sdk_proxy.UNKNOWN_ARCHIVE_VALUE,
    sdk_proxy.UNKNOWN_OBJECT_VALUE,
]


@pytest.mark.parametrize("sentinel", SENTINELS)
def test_plain_turns_every_sdk_sentinel_into_unknown(sentinel: str) -> None:
    assert plain(sentinel) is UNKNOWN
    assert plain({"a": [sentinel]}) == {"a": [UNKNOWN]}


def test_plain_leaves_known_values_alone() -> None:
    assert plain({"a": "x", "b": [1, True, None], "c": 2.5, "d": 3.0, "e": ("t",)}) == {
        "a": "x",
        "b": [1, True, None],
        "c": 2.5,
        "d": 3,
        "e": ["t"],
    }


def _pulumi_props(resource: Resource) -> dict[str, Any]:
    """Props as the analyzer receives them: numbers as floats, with apiVersion and kind."""
    group_version, kind = resource.type.split(":")[1:]
    api_version = group_version.removeprefix("core/")
    return {"apiVersion": api_version, "kind": kind, **_as_pulumi_sends(resource).props}


def test_plain_unwraps_an_sdk_proxy() -> None:
    props = _pulumi_props(
        edited(
            deployment(),
            ((*C0, "image"), sdk_proxy.UNKNOWN_STRING_VALUE),
            ((*POD, "volumes"), sdk_proxy.UNKNOWN_ARRAY_VALUE),
        )
    )
    proxied = sdk_proxy.unknown_checking_proxy(props)
    # The SDK raises on the first unknown it meets: why the glue unwraps instead.
    with pytest.raises(sdk_proxy.UnknownValueError):
        proxied["spec"]["template"]["spec"]["containers"][0]["image"]

    unwrapped = plain(proxied)

    assert type(unwrapped) is dict and type(unwrapped["spec"]["template"]["spec"]["containers"]) is list
    assert unwrapped["spec"]["template"]["spec"]["containers"][0]["image"] is UNKNOWN
    assert unwrapped["spec"]["template"]["spec"]["volumes"] is UNKNOWN
    assert unwrapped["spec"]["replicas"] == 1 and type(unwrapped["spec"]["replicas"]) is int
    assert unwrapped["metadata"] == {"name": "api", "namespace": "shop", "labels": labels("api")}


def test_sdk_policies_mirror_the_catalog() -> None:
    policies = sdk_policies()
    assert [p.name for p in policies] == [rule.name for rule in RULES] + ["unchecked-during-preview"]
    levels = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
    for rule, policy in zip(RULES, policies, strict=False):
        assert isinstance(policy, StackValidationPolicy if rule.stack else ResourceValidationPolicy)
        assert policy.enforcement_level == levels[rule.enforcement]
        assert policy.description == rule.description
    assert policies[-1].enforcement_level == EnforcementLevel.ADVISORY


def _policy(name: str) -> Any:
    return next(p for p in sdk_policies() if p.name == name)


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _urn(resource: Resource) -> str:
    return f"urn:pulumi:production::azora::{resource.type}::{resource.name}"


def _resource_args(resource: Resource, config: Mapping[str, Any] | None = None) -> ResourceValidationArgs:
    props = sdk_proxy.unknown_checking_proxy(_pulumi_props(resource))
    return ResourceValidationArgs(resource.type, props, _urn(resource), resource.name, _options(), None, config)


def _stack_args(resources: list[Resource], config: Mapping[str, Any] | None = None) -> StackValidationArgs:
    return StackValidationArgs(
        [
            PolicyResource(
                r.type,
                sdk_proxy.unknown_checking_proxy(_pulumi_props(r)),
                _urn(r),
                r.name,
                _options(),
                None,
                None,
                [],
                {},
            )
            for r in resources
        ],
        config,
    )


class Reports:
    """A report_violation that records what a policy reports."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.calls.append((message, urn))


def test_sdk_resource_policy_validates_without_a_server() -> None:
    policy = _policy("no-privileged")
    good, bad = Reports(), Reports()
    assert policy.validate(_resource_args(deployment()), good) is None
    policy.validate(_resource_args(edited(deployment(), ((*SC, "privileged"), True))), bad)
    assert good.calls == []
    assert bad.calls == [
        (
            "Deployment/shop/api: container 'api' (spec.template.spec.containers[0]) is privileged; "
            "remove privileged: true",
            None,
        )
    ]


def test_sdk_policy_unknown_field_does_not_hide_a_known_violation() -> None:
    resource = edited(
        deployment(),
        ((*C0, "image"), sdk_proxy.UNKNOWN_STRING_VALUE),
        ((*SC, "privileged"), True),
        ((*SC, "readOnlyRootFilesystem"), sdk_proxy.UNKNOWN_BOOLEAN_VALUE),
    )
    privileged, tag, unchecked_stack = Reports(), Reports(), Reports()
    # No UnknownValueError escapes, which would make the SDK skip the whole policy.
    _policy("no-privileged").validate(_resource_args(resource), privileged)
    _policy("image-tag-pinned").validate(_resource_args(resource), tag)
    _policy("unchecked-during-preview").validate(_stack_args([resource]), unchecked_stack)

    assert [m for m, _ in privileged.calls] == [
        "Deployment/shop/api: container 'api' (spec.template.spec.containers[0]) is privileged; remove privileged: true"
    ]
    assert tag.calls == []  # unknown, so not a violation of the (mandatory) rule itself...
    named = sorted(m.split(":")[0] for m, _ in unchecked_stack.calls)  # ...but named, advisory
    assert named == ["allowed-registries", "image-tag-pinned", "read-only-root-filesystem"]
    assert all(UNCHECKED_PREFIX in m and urn == _urn(resource) for m, urn in unchecked_stack.calls)


def test_sdk_policy_reads_its_config_as_pulumi_sends_it() -> None:
    nginx = edited(deployment(), ((*C0, "image"), "nginx:1.25.3"))
    reports = Reports()
    _policy("allowed-registries").validate(
        _resource_args(nginx, {"enforcementLevel": "mandatory", "registries": ["docker.io/library/"]}), reports
    )
    assert reports.calls == []

    prod = deployment(replicas=2, extra_labels={"azora.io/environment": "production"})
    _policy("production-min-replicas").validate(_resource_args(prod, {"minReplicas": 3.0}), reports)
    assert [m for m, _ in reports.calls] == ["Deployment/shop/api: spec.replicas is 2; production needs at least 3"]


def test_sdk_stack_policy_reports_with_the_resource_urn() -> None:
    lonely = deployment(replicas=3)
    reports = Reports()
    _policy("pdb-coverage").validate(_stack_args([lonely]), reports)
    assert reports.calls == [
        (
            "Deployment/shop/api: 3 replicas but no PodDisruptionBudget selects its pods; "
            "add one with maxUnavailable: 1",
            _urn(lonely),
        )
    ]
    reports = Reports()
    _policy("pdb-coverage").validate(_stack_args([lonely, pdb()]), reports)
    assert reports.calls == []


def test_sdk_stack_policy_with_unknowns_still_reports_known_violations() -> None:
    resources = blue_green(active="blue", preview="blue")
    resources = _replaced(
        resources, "Deployment/shop/web-green", (("spec", "replicas"), sdk_proxy.UNKNOWN_NUMBER_VALUE)
    )
    reports = Reports()
    _policy("blue-green-pair").validate(_stack_args(resources), reports)
    assert [m for m, _ in reports.calls] == [
        "Service/shop/web-preview: active and preview Services of 'web' both select 'blue'; the preview must select "
        "the idle colour"
    ]


def test_compliant_stack_reports_nothing_through_any_sdk_policy() -> None:
    resources = compliant_stack()
    reports = Reports()
    for policy in sdk_policies():
        if isinstance(policy, StackValidationPolicy):
            policy.validate(_stack_args(resources), reports)
        else:
            for resource in resources:
                policy.validate(_resource_args(resource), reports)
    assert reports.calls == []


def test_settings_defaults() -> None:
    settings = Settings()
    assert settings.level(BY_NAME["spread-replicas"]) == "advisory"
    assert settings.options_for(BY_NAME["allowed-registries"])["registries"][0] == "ghcr.io/azora/"
