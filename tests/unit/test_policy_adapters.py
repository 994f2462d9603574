"""The pulumi_policy SDK glue (`policy/adapters.py`), driven without a server: `plain()` over the
SDK's own unknown sentinels and proxies, the SDK policies mirroring the catalog, and each
policy's `validate` with real argument bags, config as Pulumi sends it and unknowns inside.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from policy.rules.catalog import RULES
from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    C0,
    POD,
    SC,
    as_pulumi_sends,
    blue_green,
    compliant_stack,
    deployment,
    edited,
    labels,
    pdb,
    replaced,
)

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
    return {"apiVersion": api_version, "kind": kind, **as_pulumi_sends(resource).props}


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
            "remove privileged: true (Pod Security Standards Baseline: Privileged Containers)",
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
        "Deployment/shop/api: container 'api' (spec.template.spec.containers[0]) is privileged; "
        "remove privileged: true (Pod Security Standards Baseline: Privileged Containers)"
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
    resources = replaced(resources, "Deployment/shop/web-green", (("spec", "replicas"), sdk_proxy.UNKNOWN_NUMBER_VALUE))
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
