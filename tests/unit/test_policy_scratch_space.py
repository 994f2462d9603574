"""The scratch-space rule (`policy/rules/scratch_space.py`): bounded-scratch-space, advisory.

A mounted emptyDir on the node's disk passes with a positive sizeLimit or with an
ephemeral-storage limit on any container of its pod; it fails otherwise, whichever container
(app, init or ephemeral) writes to it. Its look-alikes pass: a memory-backed emptyDir, one
nothing mounts, a claim-backed ephemeral volume. The stacks' own scratch volumes are bounded, and
the rule really reads them.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.engine import UNCHECKED_PREFIX, evaluate
from policy.rules.model import UNKNOWN, Resource
from tests.conftest import mocked_stack
from tests.mocked_program import ProgramRun
from tests.unit.policy_support import (
    C0,
    DELETE,
    POD,
    POD_PATHS,
    WORKLOAD_KINDS,
    Case,
    PathT,
    assert_trips_only_its_rule,
    container,
    edited,
    init_container,
    of,
    pod_spec,
    run,
    run_variant,
    workload,
)
from tests.unit.test_policy_pss_coverage import debugged_pod
from tests.unit.test_stacks_pass_policy import policy_resources

RULE = "bounded-scratch-space"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
VOLUME: PathT = (*POD, "volumes", 0)
EMPTY_DIR: PathT = (*VOLUME, "emptyDir")
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def scratch(kind: str = "Deployment", size_limit: Any = "256Mi") -> Resource:
    """A compliant workload whose container writes to /tmp, an emptyDir bounded by `size_limit`
    (none when None)."""
    main = {**container(), "volumeMounts": [dict(TMP_MOUNT)]}
    pod = {
        **pod_spec(main),
        "volumes": [{"name": "tmp", "emptyDir": {} if size_limit is None else {"sizeLimit": size_limit}}],
    }
    return workload(kind, spec=pod)


def unbounded() -> Resource:
    return scratch(size_limit=None)


def debugged_scratch_pod() -> Resource:
    """The compliant debugged Pod, its /tmp bounded; only the debug container mounts it."""
    return edited(
        debugged_pod(),
        (("spec", "volumes"), [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]),
        (("spec", "ephemeralContainers", 0, "volumeMounts"), [dict(TMP_MOUNT)]),
    )


def _writing_init() -> dict[str, Any]:
    return {**init_container(), "volumeMounts": [{"name": "tmp", "mountPath": "/work"}]}


def _limited_init() -> dict[str, Any]:
    """The compliant init container with an ephemeral-storage limit; it mounts nothing."""
    spec = init_container()
    spec["resources"]["limits"]["ephemeral-storage"] = "2Gi"
    return spec


# --------------------------------------------------------------------------------------
# Failing: an unbounded, mounted emptyDir on the node's disk.
# --------------------------------------------------------------------------------------

CASES = [
    Case(
        RULE,
        "no-size-limit",
        scratch,
        (((*EMPTY_DIR, "sizeLimit"), DELETE),),
        "emptyDir 'tmp' (spec.template.spec.volumes[0]), mounted by container 'api', has no sizeLimit and no "
        "container of the pod sets resources.limits.ephemeral-storage: it can fill the node's disk; set "
        "spec.template.spec.volumes[0].emptyDir.sizeLimit (or an ephemeral-storage limit on a container)",
        enforcement="advisory",
    ),
    # The kubelet enforces only a positive sizeLimit: 0 is no limit at all.
    Case(RULE, "zero-size-limit", scratch, (((*EMPTY_DIR, "sizeLimit"), "0Mi"),), "has no sizeLimit", "advisory"),
    # A request only places the pod; it bounds nothing.
    Case(
        RULE,
        "request-only",
        unbounded,
        (((*C0, "resources", "requests", "ephemeral-storage"), "1Gi"),),
        "mounted by container 'api', has no sizeLimit",
        enforcement="advisory",
    ),
    Case(
        RULE,
        "explicit-disk-medium",
        unbounded,
        (((*EMPTY_DIR, "medium"), ""),),
        "emptyDir 'tmp' (spec.template.spec.volumes[0])",
        enforcement="advisory",
    ),
    Case(
        RULE,
        "init-container-writes",
        unbounded,
        (((*C0, "volumeMounts"), DELETE), ((*POD, "initContainers"), [_writing_init()])),
        "mounted by init container 'migrate', has no sizeLimit",
        enforcement="advisory",
    ),
    Case(
        RULE,
        "every-writer-named",
        unbounded,
        (((*POD, "initContainers"), [_writing_init()]),),
        "mounted by init container 'migrate' and container 'api', has no sizeLimit",
        enforcement="advisory",
    ),
    # An ephemeral container cannot set resources: only a sizeLimit (or another container's
    # limit) bounds what it writes.
    Case(
        RULE,
        "ephemeral-container-writes",
        debugged_scratch_pod,
        ((("spec", "volumes", 0, "emptyDir"), {}),),
        "emptyDir 'tmp' (spec.volumes[0]), mounted by ephemeral container 'debug', has no sizeLimit",
        enforcement="advisory",
    ),
    Case(
        RULE,
        "one-finding-per-volume",
        unbounded,
        (
            ((*POD, "volumes"), [{"name": "tmp", "emptyDir": {}}, {"name": "cache", "emptyDir": {"medium": None}}]),
            ((*C0, "volumeMounts"), [dict(TMP_MOUNT), {"name": "cache", "mountPath": "/cache"}]),
        ),
        "mounted by container 'api'",
        enforcement="advisory",
        count=2,
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_every_workload_kind_is_read(kind: str) -> None:
    base = ".".join(str(part) for part in POD_PATHS[kind])
    violations = run([scratch(kind, size_limit=None)])
    assert [(v.policy, v.enforcement) for v in violations] == [(RULE, "advisory")]
    assert violations[0].message.startswith(f"emptyDir 'tmp' ({base}.volumes[0]), mounted by container 'api'")


def test_a_mount_twice_names_its_container_once() -> None:
    resource = edited(unbounded(), ((*C0, "volumeMounts"), [dict(TMP_MOUNT), {**TMP_MOUNT, "mountPath": "/var/tmp"}]))
    [violation] = of(run([resource]), RULE)
    assert "mounted by container 'api', has" in violation.message


# --------------------------------------------------------------------------------------
# Passing: bounded one way or the other, or not on the node's disk, or not written to.
# --------------------------------------------------------------------------------------

LIMIT: PathT = (*C0, "resources", "limits", "ephemeral-storage")


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        (scratch, ()),
        (scratch, (((*EMPTY_DIR, "sizeLimit"), 268435456),)),  # a number of bytes
        (scratch, (((*EMPTY_DIR, "sizeLimit"), "0.5Gi"),)),
        (unbounded, ((LIMIT, "1Gi"),)),  # the writer's own limit
        # Any container's limit gives the pod one, and the kubelet holds the pod's emptyDirs,
        # layers and logs together to it: here an init container that does not mount the volume.
        (unbounded, (((*POD, "initContainers"), [_limited_init()]),)),
        # RAM, bounded by the container's memory limit, never on the node's disk.
        (unbounded, (((*EMPTY_DIR, "medium"), "Memory"),)),
        (unbounded, (((*EMPTY_DIR, "medium"), "HugePages-2Mi"),)),
        # Nothing mounts it, so nothing writes to it.
        (unbounded, (((*C0, "volumeMounts"), DELETE),)),
        (unbounded, (((*C0, "volumeMounts"), [{"name": "other", "mountPath": "/tmp"}]),)),
        # A generic ephemeral volume is a claim with its own size, not an emptyDir.
        (
            unbounded,
            (
                (
                    (*POD, "volumes"),
                    [
                        {
                            "name": "tmp",
                            "ephemeral": {
                                "volumeClaimTemplate": {
                                    "spec": {
                                        "accessModes": ["ReadWriteOnce"],
                                        "resources": {"requests": {"storage": "1Gi"}},
                                    }
                                }
                            },
                        }
                    ],
                ),
            ),
        ),
        (debugged_scratch_pod, ()),
    ],
    ids=[
        "size-limit",
        "size-limit-in-bytes",
        "fractional-size-limit",
        "writer-limit",
        "other-container-limit",
        "memory-medium",
        "hugepages-medium",
        "not-mounted",
        "other-volume-mounted",
        "generic-ephemeral-volume",
        "debug-container-bounded",
    ],
)
def test_bounded_or_harmless_scratch_passes(base: Any, edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Unknown values during preview: unchecked, never passed silently, never a false finding.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        (edited(scratch(), ((*EMPTY_DIR, "sizeLimit"), UNKNOWN)), "spec.template.spec.volumes[0].emptyDir.sizeLimit"),
        (edited(unbounded(), ((*EMPTY_DIR, "medium"), UNKNOWN)), "spec.template.spec.volumes[0].emptyDir.medium"),
        (edited(unbounded(), ((*POD, "volumes"), UNKNOWN)), "spec.template.spec.volumes"),
        # The limit might be set: whether the pod is bounded is what is unknown.
        (edited(unbounded(), (LIMIT, UNKNOWN)), "spec.template.spec.containers[0].resources.limits.ephemeral-storage"),
        (edited(unbounded(), ((*C0, "volumeMounts"), UNKNOWN)), "spec.template.spec.containers[0].volumeMounts"),
    ],
    ids=["size-limit", "medium", "volumes", "limit", "mounts"],
)
def test_an_unknown_part_is_unchecked(resource: Resource, path: str) -> None:
    assert [(v.policy, v.enforcement, v.message) for v in of(run([resource]), RULE)] == [
        (RULE, "advisory", f"{UNCHECKED_PREFIX}{path} is not known during preview; it is checked again on update")
    ]


def test_a_known_limit_decides_whatever_else_is_unknown() -> None:
    resource = edited(unbounded(), ((*POD, "volumes"), UNKNOWN), (LIMIT, "1Gi"))
    assert of(run([resource]), RULE) == []


def test_an_unknown_mount_elsewhere_does_not_hide_a_known_writer() -> None:
    resource = edited(unbounded(), ((*POD, "initContainers"), [{**init_container(), "volumeMounts": UNKNOWN}]))
    [violation] = of(run([resource]), RULE)
    assert not violation.message.startswith(UNCHECKED_PREFIX)
    assert "mounted by container 'api', has no sizeLimit" in violation.message


# --------------------------------------------------------------------------------------
# The stacks: every scratch volume of ours is bounded, and the rule really reads them.
# --------------------------------------------------------------------------------------


def _volumes(resource: Resource) -> dict[str, Any]:
    return {volume["name"]: volume for volume in resource.props["spec"]["template"]["spec"]["volumes"]}


def test_no_stack_trips_the_rule(stack_run: ProgramRun) -> None:
    resources = policy_resources(stack_run)
    assert of(evaluate(resources), RULE) == []
    deployments = [r for r in resources if r.type == DEPLOYMENT]
    assert deployments
    for deployment in deployments:
        for volume in _volumes(deployment).values():
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), (deployment.display, volume)


def test_the_stacks_scratch_volumes_carry_their_size_limits() -> None:
    local = policy_resources(mocked_stack("local"))
    app = [r for r in local if r.type == DEPLOYMENT and r.object_name != "prometheus"]
    assert len(app) == 12
    for deployment in app:
        assert _volumes(deployment)["tmp"] == {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}
    prometheus = next(r for r in local if r.type == DEPLOYMENT and r.object_name == "prometheus")
    assert _volumes(prometheus)["data"] == {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}
    # Prometheus prunes its oldest blocks before the volume reaches its limit.
    args = prometheus.props["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--storage.tsdb.retention.size=768MB" in args
    assert "--storage.tsdb.retention.time=2h" in args


def test_the_rule_sees_the_stacks_scratch_volumes() -> None:
    # Remove the bound the program set and the rule fires on exactly that Deployment.
    resources = policy_resources(mocked_stack("local"))
    target = next(r for r in resources if r.type == DEPLOYMENT and r.object_name == "prometheus")
    volumes = [
        {**volume, "emptyDir": {}} if volume["name"] == "data" else volume for volume in _volumes(target).values()
    ]
    broken = edited(target, (("spec", "template", "spec", "volumes"), volumes))
    violations = of(evaluate([broken if r is target else r for r in resources]), RULE)
    assert [(v.enforcement, v.resource, v.message) for v in violations] == [
        (
            "advisory",
            target.display,
            "emptyDir 'data' (spec.template.spec.volumes[1]), mounted by container 'prometheus', has no sizeLimit "
            "and no container of the pod sets resources.limits.ephemeral-storage: it can fill the node's disk; set "
            "spec.template.spec.volumes[1].emptyDir.sizeLimit (or an ephemeral-storage limit on a container)",
        )
    ]
