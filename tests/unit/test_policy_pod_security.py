"""The Pod Security Standards rules no other family covers (`policy/rules/pod_security.py`):
pss-host-process, pss-host-probes, pss-apparmor, pss-selinux and pss-sysctls (Baseline) and
pss-volume-types (Restricted). Each has manifests that fire, naming the field, the fix and the
profile and control, and close look-alikes that must not; an unknown value is an advisory that
names its path. How every Pod Security rule reads ephemeral containers and names its control in
each output is in test_policy_pss_coverage.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.exemptions import EXEMPT_ANNOTATION
from policy.rules.model import UNKNOWN, Resource
from policy.rules.pod_security import SAFE_SYSCTLS
from tests.unit.policy_support import (
    C0,
    POD,
    SC,
    Case,
    PathT,
    assert_trips_only_its_rule,
    container,
    deployment,
    edited,
    init_container,
    of,
    pod_spec,
    run,
    run_variant,
    summary,
    workload,
)

POD_SC: PathT = (*POD, "securityContext")
INIT0: PathT = (*POD, "initContainers", 0)
TEMPLATE_ANNOTATIONS: PathT = ("spec", "template", "metadata", "annotations")
APPARMOR_KEY = "container.apparmor.security.beta.kubernetes.io/api"


def with_init() -> Resource:
    """The compliant Deployment with a (compliant) init container."""
    return workload("Deployment", spec=pod_spec(container(), init=(init_container(),)))


def pod() -> Resource:
    return workload("Pod")


# --------------------------------------------------------------------------------------
# Passing: the close look-alikes of each failing case.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        # pss-host-process: false, or other Windows options, are fine.
        (deployment, (((*SC, "windowsOptions"), {"hostProcess": False, "runAsUserName": "ContainerUser"}),)),
        # pss-host-probes: an empty host is the default (the pod's IP); hooks without a host.
        (deployment, (((*C0, "livenessProbe", "httpGet", "host"), ""),)),
        (
            deployment,
            (((*C0, "lifecycle"), {"preStop": {"httpGet": {"path": "/drain", "port": "http"}}}),),
        ),
        # pss-apparmor: RuntimeDefault, or a Localhost profile.
        (deployment, (((*POD_SC, "appArmorProfile"), {"type": "RuntimeDefault"}),)),
        (deployment, (((*SC, "appArmorProfile"), {"type": "Localhost", "localhostProfile": "azora-api"}),)),
        # pss-selinux: the container types, and a level (MCS categories) on its own.
        (deployment, (((*SC, "seLinuxOptions"), {"type": "container_init_t"}),)),
        (deployment, (((*POD_SC, "seLinuxOptions"), {"type": "container_engine_t", "level": "s0:c123,c456"}),)),
        (deployment, (((*SC, "seLinuxOptions"), {"type": "", "user": "", "role": ""}),)),
        # pss-sysctls: every safe sysctl at once.
        (deployment, (((*POD_SC, "sysctls"), [{"name": name, "value": "1"} for name in sorted(SAFE_SYSCTLS)]),)),
        # pss-volume-types: every allowed type, csi and ephemeral included.
        (
            deployment,
            (
                (
                    (*POD, "volumes"),
                    [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "settings", "configMap": {"name": "api-settings"}},
                        {"name": "tls", "secret": {"secretName": "api-tls"}},
                        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                        {"name": "labels", "downwardAPI": {"items": []}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}},
                        {"name": "vault", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True}},
                        {
                            "name": "scratch",
                            "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}},
                        },
                    ],
                ),
            ),
        ),
    ],
    ids=[
        "host-process-false",
        "probe-host-empty",
        "hook-without-host",
        "apparmor-runtime-default",
        "apparmor-localhost",
        "selinux-container-init-t",
        "selinux-engine-type-and-level",
        "selinux-empty-strings",
        "every-safe-sysctl",
        "every-allowed-volume-type",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case(
        "pss-host-process",
        "pod",
        deployment,
        (((*POD_SC, "windowsOptions"), {"hostProcess": True}),),
        "spec.template.spec.securityContext.windowsOptions.hostProcess is true: HostProcess containers run as "
        "processes on the Windows node itself; remove it (Pod Security Standards Baseline: HostProcess)",
    ),
    Case(
        "pss-host-process",
        "init-container",
        with_init,
        (((*INIT0, "securityContext", "windowsOptions"), {"hostProcess": True}),),
        "spec.template.spec.initContainers[0].securityContext.windowsOptions.hostProcess is true",
    ),
    Case(
        "pss-host-probes",
        "liveness-http-host",
        deployment,
        (((*C0, "livenessProbe", "httpGet", "host"), "169.254.169.254"),),
        "spec.template.spec.containers[0].livenessProbe.httpGet.host is '169.254.169.254': the kubelet would "
        "connect to that host from the node; remove it (the pod's own IP is the default) "
        "(Pod Security Standards Baseline: Host Probes / Lifecycle Hooks)",
    ),
    Case(
        "pss-host-probes",
        "pre-stop-tcp-host",
        deployment,
        (((*C0, "lifecycle"), {"preStop": {"tcpSocket": {"port": "http", "host": "db.internal"}}}),),
        "spec.template.spec.containers[0].lifecycle.preStop.tcpSocket.host is 'db.internal'",
    ),
    Case(
        "pss-apparmor",
        "pod-unconfined",
        deployment,
        (((*POD_SC, "appArmorProfile"), {"type": "Unconfined"}),),
        "spec.template.spec.securityContext.appArmorProfile.type is 'Unconfined'; set it to RuntimeDefault "
        "(or Localhost with a localhostProfile), or remove it (Pod Security Standards Baseline: AppArmor)",
    ),
    Case(
        "pss-apparmor",
        "container-unconfined",
        deployment,
        (((*SC, "appArmorProfile"), {"type": "Unconfined"}),),
        "spec.template.spec.containers[0].securityContext.appArmorProfile.type is 'Unconfined'",
    ),
    Case(
        "pss-selinux",
        "spc-type",
        deployment,
        (((*SC, "seLinuxOptions"), {"type": "spc_t"}),),
        "spec.template.spec.containers[0].securityContext.seLinuxOptions.type is 'spc_t'; use one of "
        "container_engine_t, container_init_t, container_kvm_t, container_t, or remove it "
        "(Pod Security Standards Baseline: SELinux)",
    ),
    Case(
        "pss-selinux",
        "pod-user-and-role",
        deployment,
        (((*POD_SC, "seLinuxOptions"), {"user": "system_u", "role": "system_r", "type": "container_t"}),),
        "(only type and level may be set) (Pod Security Standards Baseline: SELinux)",
        count=2,
    ),
    Case(
        "pss-sysctls",
        "unsafe-next-to-safe",
        deployment,
        (
            (
                (*POD_SC, "sysctls"),
                [{"name": "net.ipv4.tcp_keepalive_time", "value": "600"}, {"name": "kernel.msgmax", "value": "65536"}],
            ),
        ),
        "spec.template.spec.securityContext.sysctls[1].name is 'kernel.msgmax', not one of the safe "
        "(pod-isolated) sysctls; remove it, or tune it on the node (docs/policy-reference.md lists the safe "
        "ones under pss-sysctls) (Pod Security Standards Baseline: Sysctls)",
    ),
    Case(
        "pss-sysctls",
        "somaxconn",
        deployment,
        (((*POD_SC, "sysctls"), [{"name": "net.core.somaxconn", "value": "1024"}]),),
        "sysctls[0].name is 'net.core.somaxconn'",
    ),
    Case(
        "pss-volume-types",
        "nfs",
        deployment,
        (
            (
                (*POD, "volumes"),
                [{"name": "tmp", "emptyDir": {}}, {"name": "shared", "nfs": {"server": "nfs.internal", "path": "/x"}}],
            ),
        ),
        "volume 'shared' (spec.template.spec.volumes[1]) is of type nfs; use a persistentVolumeClaim (bound to a "
        "PersistentVolume of that type), csi, emptyDir, configMap, secret, projected, downwardAPI or ephemeral "
        "(Pod Security Standards Restricted: Volume Types)",
    ),
    Case(
        "pss-volume-types",
        "no-source",
        deployment,
        (((*POD, "volumes"), [{"name": "bare"}]),),
        "volume 'bare' (spec.template.spec.volumes[0]) sets no volume source",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


def test_selinux_user_and_role_are_each_named() -> None:
    resource = edited(deployment(), ((*POD_SC, "seLinuxOptions"), {"user": "system_u", "role": "system_r"}))
    messages = [v.message for v in of(run([resource]), "pss-selinux")]
    assert [m.split(";")[0] for m in messages] == [
        "spec.template.spec.securityContext.seLinuxOptions.user is 'system_u'",
        "spec.template.spec.securityContext.seLinuxOptions.role is 'system_r'",
    ]


# --------------------------------------------------------------------------------------
# AppArmor annotations (before securityContext.appArmorProfile): read on the pod template.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["runtime/default", "localhost/azora-api"])
def test_allowed_apparmor_annotation_is_only_deprecated(value: str) -> None:
    violations = run([edited(deployment(), (TEMPLATE_ANNOTATIONS, {APPARMOR_KEY: value}))])
    assert summary(violations) == [("no-deprecated-pod-fields", "advisory", "Deployment/shop/api")]


@pytest.mark.parametrize(
    ("base", "path", "named"),
    [
        (deployment, TEMPLATE_ANNOTATIONS, "spec.template.metadata.annotations"),
        (pod, ("metadata", "annotations"), "metadata.annotations"),
    ],
    ids=["deployment-template", "pod"],
)
def test_unconfined_apparmor_annotation_fires(base: Callable[[], Resource], path: PathT, named: str) -> None:
    resource = edited(base(), (path, {APPARMOR_KEY: "unconfined"}))
    violations = run([resource])
    assert summary(violations) == [
        ("no-deprecated-pod-fields", "advisory", resource.display),
        ("pss-apparmor", "mandatory", resource.display),
    ]
    assert violations[1].message == (
        f"{named}['{APPARMOR_KEY}'] is 'unconfined'; set it to runtime/default or localhost/<profile> "
        "(or use securityContext.appArmorProfile) (Pod Security Standards Baseline: AppArmor)"
    )


def test_apparmor_annotation_on_the_deployment_itself_is_not_the_pods() -> None:
    # The kubelet reads the pod's annotations; the Deployment's own metadata never reaches a pod.
    resource = edited(deployment(), (("metadata", "annotations"), {APPARMOR_KEY: "unconfined"}))
    assert run([resource]) == []


# --------------------------------------------------------------------------------------
# Look-alikes another rule owns, and the exemption annotation.
# --------------------------------------------------------------------------------------


def test_host_path_is_reported_once_by_no_host_path() -> None:
    resource = edited(deployment(), ((*POD, "volumes"), [{"name": "logs", "hostPath": {"path": "/var/log"}}]))
    assert summary(run([resource])) == [("no-host-path", "mandatory", "Deployment/shop/api")]


def test_exemption_with_a_reason_silences_a_pss_rule() -> None:
    sysctl = ((*POD_SC, "sysctls"), [{"name": "net.core.somaxconn", "value": "4096"}])
    exempt = (("metadata", "annotations"), {EXEMPT_ANNOTATION: "pss-sysctls: nodes allow net.core.somaxconn"})
    assert [v.policy for v in run([edited(deployment(), sysctl)])] == ["pss-sysctls"]
    assert run([edited(deployment(), sysctl, exempt)]) == []


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory naming its path, never passed.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "edits", "named"),
    [
        ("pss-host-process", (((*SC, "windowsOptions"), UNKNOWN),), "containers[0].securityContext.windowsOptions"),
        ("pss-host-probes", (((*C0, "livenessProbe", "httpGet", "host"), UNKNOWN),), "livenessProbe.httpGet.host"),
        ("pss-apparmor", (((*POD_SC, "appArmorProfile"), {"type": UNKNOWN}),), "securityContext.appArmorProfile.type"),
        ("pss-apparmor", ((TEMPLATE_ANNOTATIONS, UNKNOWN),), "spec.template.metadata.annotations"),
        ("pss-apparmor", ((TEMPLATE_ANNOTATIONS, {APPARMOR_KEY: UNKNOWN}),), f"annotations['{APPARMOR_KEY}']"),
        ("pss-selinux", (((*SC, "seLinuxOptions"), UNKNOWN),), "containers[0].securityContext.seLinuxOptions"),
        ("pss-sysctls", (((*POD_SC, "sysctls"), UNKNOWN),), "spec.template.spec.securityContext.sysctls"),
        ("pss-sysctls", (((*POD_SC, "sysctls"), [{"name": UNKNOWN, "value": "1"}]),), "sysctls[0].name"),
        ("pss-volume-types", (((*POD, "volumes"), UNKNOWN),), "spec.template.spec.volumes"),
        ("pss-volume-types", (((*POD, "volumes"), [{"name": "tmp", "emptyDir": {}}, UNKNOWN]),), "volumes[1]"),
        ("pss-volume-types", (((*POD, "volumes"), [{"name": "x", "nfs": UNKNOWN}]),), "volumes[0].nfs"),
    ],
    ids=[
        "host-process",
        "probe-host",
        "apparmor-type",
        "apparmor-annotations",
        "apparmor-annotation-value",
        "selinux-options",
        "sysctls",
        "sysctl-name",
        "volumes",
        "volume-entry",
        "volume-source",
    ],
)
def test_an_unknown_part_is_a_named_advisory(rule: str, edits: tuple[tuple[PathT, Any], ...], named: str) -> None:
    violations = run([edited(deployment(), *edits)])
    assert [v for v in violations if v.enforcement == "mandatory"] == []
    mine = of(violations, rule)
    assert summary(mine) == [(rule, "advisory", "Deployment/shop/api")]  # others may name it too (no-host-path)
    message = mine[0].message
    assert message.startswith(UNCHECKED_PREFIX) and named in message, message
    assert re.search(r" \(Pod Security Standards (Baseline|Restricted): [^()]+\)$", message), message


def test_an_unknown_volume_does_not_hide_a_known_bad_one() -> None:
    volumes = [UNKNOWN, {"name": "disk", "awsElasticBlockStore": {"volumeID": "vol-1"}}]
    violations = of(run([edited(deployment(), ((*POD, "volumes"), volumes))]), "pss-volume-types")
    assert [(v.enforcement, v.message.split(";")[0]) for v in violations] == [
        ("advisory", UNCHECKED_PREFIX + "spec.template.spec.volumes[0] is not known during preview"),
        ("mandatory", "volume 'disk' (spec.template.spec.volumes[1]) is of type awsElasticBlockStore"),
    ]


@pytest.mark.parametrize("path", [POD, ("spec", "template")], ids=["pod-spec", "template"])
def test_an_unknown_pod_spec_is_named_by_every_pss_rule(path: PathT) -> None:
    named = {v.policy for v in run([edited(deployment(), (path, UNKNOWN))]) if v.policy.startswith("pss-")}
    assert named == {rule.rule for rule in CASES}
