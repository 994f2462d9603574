"""The host access rules (`policy/rules/host_access.py`): no-host-namespaces, no-host-path and
no-host-port. Compliant variants (an emptyDir, hostPort 0) pass; breaking one field trips
exactly that rule; an unknown volume entry is an advisory, not a hostPath.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    C0,
    POD,
    Case,
    PathT,
    assert_trips_only_its_rule,
    deployment,
    edited,
    of,
    run,
    run_variant,
    summary,
)

# --------------------------------------------------------------------------------------
# Passing: compliant variants of this family's objects.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        (deployment, (((*POD, "volumes"), [{"name": "tmp", "emptyDir": {}}]),)),
        (deployment, (((*C0, "ports", 0, "hostPort"), 0),)),
    ],
    ids=[
        "empty-dir",
        "host-port-zero",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
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
        "container 'api' (spec.template.spec.containers[0].ports[0]) binds hostPort 8080",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory, never silently passed.
# --------------------------------------------------------------------------------------


def test_unknown_volume_entry_is_advisory_not_a_host_path() -> None:
    # BUG host_access.py:34 (check_host_path): `get(UNKNOWN, "hostPath")` is UNKNOWN, which `is not None`, so a
    # volume whose value is an Output is reported as a *mandatory* hostPath violation.
    resource = edited(deployment(), ((*POD, "volumes"), [{"name": "tmp", "emptyDir": {}}, UNKNOWN]))
    mine = of(run([resource]), "no-host-path")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)
    assert mine[0].message.startswith(UNCHECKED_PREFIX)
