"""The container rules (`policy/rules/containers.py`): resource-requests-limits, health-probes,
probe-port-declared and no-duplicate-env. Breaking one field trips exactly that rule, init
containers included; probes are required only of long-running workload kinds.
"""

from __future__ import annotations

import pytest

from policy.rules.model import Resource
from tests.unit.policy_support import (
    C0,
    DELETE,
    POD,
    Case,
    assert_trips_only_its_rule,
    container,
    deployment,
    edited,
    init_container,
    pod_spec,
    run,
    workload,
)

# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------


def _init_without_resources() -> Resource:
    return edited(
        deployment(), ((*POD, "initContainers"), [{**init_container(), "resources": {"limits": {"cpu": "1"}}}])
    )


CASES = [
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
    Case(
        "probe-port-declared",
        "renamed-port",  # the port was renamed and the probe still names the old one
        deployment,
        (((*C0, "ports"), [{"name": "web", "containerPort": 8080}]),),
        "Probe.httpGet.port names port 'http', which container 'api' does not declare (its named ports: web)",
        count=2,  # the liveness and the readiness probe
    ),
    Case(
        "probe-port-declared",
        "tcp-startup-probe",
        deployment,
        (((*C0, "startupProbe"), {"tcpSocket": {"port": "grpc"}}),),
        "startupProbe.tcpSocket.port names port 'grpc'",
    ),
    Case(
        "no-duplicate-env",
        "override-at-the-end",
        deployment,
        (
            (
                (*C0, "env"),
                [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "PORT", "value": "8080"},
                    {"name": "LOG_LEVEL", "value": "debug"},
                ],
            ),
        ),
        "spec.template.spec.containers[0].env[2] sets 'LOG_LEVEL' again (first at env[0]); only the last one counts",
        enforcement="advisory",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Workload kinds: only long-running ones need probes.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"), [("Job", []), ("CronJob", []), ("Pod", ["health-probes"]), ("DaemonSet", ["health-probes"])]
)
def test_probes_are_required_only_of_long_running_kinds(kind: str, expected: list[str]) -> None:
    bare = container()
    del bare["livenessProbe"], bare["readinessProbe"]
    assert [v.policy for v in run([workload(kind, spec=pod_spec(bare))])] == expected


# --------------------------------------------------------------------------------------
# probe-port-declared: numbers, and names the container declares, pass.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "probe",
    [
        {"httpGet": {"path": "/healthz", "port": 8080}},  # a number needs no declaration
        {"httpGet": {"path": "/healthz", "port": 9090}},  # nor does an undeclared number
        {"tcpSocket": {"port": "http"}},  # declared
        {"exec": {"command": ["/bin/true"]}},  # no port at all
        {"grpc": {"port": 8080}},
    ],
    ids=["number", "undeclared-number", "declared-name", "exec", "grpc"],
)
def test_probes_with_a_number_or_a_declared_name_pass(probe: dict[str, object]) -> None:
    assert run([edited(deployment(), ((*C0, "livenessProbe"), probe))]) == []


def test_one_name_in_two_containers_is_no_duplicate() -> None:
    env = [{"name": "LOG_LEVEL", "value": "info"}, {"name": "log_level", "value": "debug"}]  # names are case-sensitive
    sidecar = container("proxy")
    sidecar["env"] = [{"name": "LOG_LEVEL", "value": "warn"}]
    main = container()
    main["env"] = env
    assert run([workload("Deployment", spec=pod_spec(main, sidecar))]) == []
