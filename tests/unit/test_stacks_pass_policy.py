"""Each stack's resources, as a real preview would send them, pass every mandatory rule."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.catalog import RULES
from policy.rules.engine import evaluate
from policy.rules.model import Resource, whole_numbers
from tests.conftest import mocked_stack
from tests.mocked_program import SECRET_SIG, ProgramRun, run_program


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _unwrap_secrets(value["value"])
        return {key: _unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(item) for item in value]
    return value


def policy_resources(run: ProgramRun) -> list[Resource]:
    """What the analyzer sees: the custom resources with their inputs (numbers as doubles)."""
    return [
        Resource(r.type, whole_numbers(_unwrap_secrets(r.inputs)), r.name)
        for r in run.resources
        if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith("pulumi:providers")
    ]


def test_every_stack_passes_every_mandatory_rule(stack_run: ProgramRun) -> None:
    resources = policy_resources(stack_run)
    assert len(resources) > 40
    mandatory = [v for v in evaluate(resources) if v.enforcement == "mandatory"]
    assert mandatory == []


def test_rules_see_the_stacks_workloads() -> None:
    # The check above is only meaningful if the rules really ran over the workloads: break one
    # field in the program's output and the matching rule must fire on exactly that resource.
    resources = policy_resources(mocked_stack("production"))
    target = next(r for r in resources if r.type == "kubernetes:apps/v1:Deployment")
    broken_props = dict(target.props)
    broken_spec = dict(broken_props["spec"])
    broken_spec["template"] = {**broken_spec["template"], "spec": {**broken_spec["template"]["spec"], "hostPID": True}}
    broken_props["spec"] = broken_spec
    broken = [Resource(target.type, broken_props, target.name) if r is target else r for r in resources]
    found = [(v.policy, v.resource) for v in evaluate(broken) if v.enforcement == "mandatory"]
    assert found == [("no-host-namespaces", target.display)]
    assert {rule.name for rule in RULES} >= {"no-host-namespaces", "blue-green-pair", "pdb-coverage"}


@pytest.mark.parametrize(
    ("edit", "rule"),
    [
        (lambda raw: raw["services"]["web"]["versions"].__setitem__("blue", "latest"), "image-tag-pinned"),
        (lambda raw: raw["services"]["web"].__setitem__("image", "docker.io/someone/web"), "allowed-registries"),
        (
            lambda raw: raw["services"]["auth"].update(replicas=1, autoscaling={"minReplicas": 1, "maxReplicas": 3}),
            "blue-green-pair",
        ),
    ],
)
def test_a_policy_breaking_config_change_is_caught(edit: Any, rule: str) -> None:
    run = run_program("production", edit)
    assert run.error is None
    mandatory = {v.policy for v in evaluate(policy_resources(run)) if v.enforcement == "mandatory"}
    assert rule in mandatory
