"""`deprecated-api` (advisory): API versions Kubernetes 1.34 still serves but has deprecated
(Kyverno `check-deprecated-apis`). Each entry of the table fires with its release and its
replacement; the versions next to them (their successors, betas not yet deprecated, removed
versions that `removed-api` owns) pass; the table agrees with the kinds table; the stacks use
none of them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from policy.rules.catalog import BY_NAME
from policy.rules.deprecations import DEPRECATED
from policy.rules.kinds import BUILTIN, KUBERNETES_VERSION, REMOVED
from policy.rules.model import Resource
from tests.conftest import mocked_stack
from tests.unit.policy_cli_support import invoke, manifest, report
from tests.unit.policy_support import Case, assert_trips_only_its_rule, of, run
from tests.unit.test_stacks_pass_policy import policy_resources

RULE = "deprecated-api"


def obj(token: str, name: str = "x", namespace: str | None = "shop", **body: Any) -> Resource:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return Resource(token, {"metadata": metadata, **body}, name)


# The engine's catalogue coverage reads family files' CASES; these are this family's.
CASES = [
    Case(
        RULE,
        "service-cidr-v1beta1",
        lambda: obj("kubernetes:networking.k8s.io/v1beta1:ServiceCIDR", "extra", None, spec={"cidrs": ["10.9.0.0/16"]}),
        (),
        "networking.k8s.io/v1beta1 ServiceCIDR is deprecated since Kubernetes 1.34 and Kubernetes 1.37 stops serving "
        "it; use apiVersion: networking.k8s.io/v1",
        enforcement="advisory",
    ),
    Case(
        RULE,
        "endpoints",
        lambda: obj("kubernetes:core/v1:Endpoints", "legacy-db", subsets=[]),
        (),
        "v1 Endpoints is deprecated since Kubernetes 1.33 and no release is set to remove it (a GA version); "
        "use discovery.k8s.io/v1 EndpointSlice",
        enforcement="advisory",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_each_case_breaks_exactly_its_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


EXPECTED = [
    ("networking.k8s.io/v1beta1", "IPAddress", "since Kubernetes 1.34 and Kubernetes 1.37", "networking.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "VolumeAttributesClass", "1.34 and Kubernetes 1.37", "apiVersion: storage.k8s.io/v1"),
    ("storage.k8s.io/v1alpha1", "VolumeAttributesClass", "1.32 and Kubernetes 1.35", "apiVersion: storage.k8s.io/v1"),
    ("certificates.k8s.io/v1alpha1", "ClusterTrustBundle", "1.34 and Kubernetes 1.37", "certificates.k8s.io/v1beta1"),
    ("storagemigration.k8s.io/v1alpha1", "StorageVersionMigration", "1.33 and Kubernetes 1.36", "serves no other"),
    ("v1", "Endpoints", "since Kubernetes 1.33 and no release", "use discovery.k8s.io/v1 EndpointSlice"),
]


@pytest.mark.parametrize(("api_version", "kind", "when", "use"), EXPECTED, ids=[f"{a} {k}" for a, k, _, _ in EXPECTED])
def test_a_deprecated_version_is_named_with_its_removal_and_replacement(
    api_version: str, kind: str, when: str, use: str
) -> None:
    code, document = report("-", stdin=manifest(api_version, kind))
    found = [(v["policy"], v["enforcement"], v["message"]) for v in document["violations"]]
    assert code == 0  # advisory: it still works
    assert [(policy, level) for policy, level, _ in found] == [(RULE, "advisory")]
    assert found[0][2].startswith(f"{api_version} {kind} is deprecated ")
    assert when in found[0][2] and use in found[0][2]


# Versions next to the deprecated ones that must pass it.
LOOK_ALIKES = [
    ("networking.k8s.io/v1", "ServiceCIDR"),
    ("storage.k8s.io/v1", "VolumeAttributesClass"),
    ("certificates.k8s.io/v1beta1", "ClusterTrustBundle"),  # deprecated only in 1.37
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("resource.k8s.io/v1beta1", "ResourceClaim"),  # deprecated only in 1.35
    ("admissionregistration.k8s.io/v1alpha1", "MutatingAdmissionPolicy"),  # deprecated only in 1.35
    ("coordination.k8s.io/v1beta1", "LeaseCandidate"),
    ("v1", "Service"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
]


@pytest.mark.parametrize(("api_version", "kind"), LOOK_ALIKES, ids=[f"{a} {k}" for a, k in LOOK_ALIKES])
def test_look_alikes_pass(api_version: str, kind: str) -> None:
    _, document = report("-", stdin=manifest(api_version, kind))
    assert [v for v in document["violations"] if v["policy"] == RULE] == []


def test_a_removed_version_is_removed_api_s_alone() -> None:
    _, document = report("-", stdin=manifest("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", namespace=None))
    assert [v["policy"] for v in document["violations"]] == ["removed-api"]


def test_the_pulumi_type_token_is_enough_and_a_list_of_them_is_as_deprecated() -> None:
    found = of(
        run(
            [
                obj("kubernetes:storage.k8s.io/v1beta1:VolumeAttributesClass", "gold", None, driverName="x"),
                obj("kubernetes:core/v1:EndpointsList", "legacy", None, items=[]),
            ]
        ),
        RULE,
    )
    assert [v.resource for v in found] == ["VolumeAttributesClass/-/gold", "EndpointsList/-/legacy"]
    assert found[1].message.startswith("v1 EndpointsList is deprecated since Kubernetes 1.33")


def test_the_text_output_shows_it_as_advisory_and_exits_0() -> None:
    result = invoke("-", stdin=manifest("networking.k8s.io/v1beta1", "IPAddress", "10.9.0.1", namespace=None))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("advisory  deprecated-api  IPAddress/-/10.9.0.1: ")


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def test_the_table_is_served_deprecated_and_not_yet_removed() -> None:
    now = _minor(KUBERNETES_VERSION)
    for (api_version, kind), deprecation in DEPRECATED.items():
        assert kind in BUILTIN.get(api_version, ()), f"{api_version} {kind} is not served in {KUBERNETES_VERSION}"
        assert (api_version, kind) not in REMOVED
        assert _minor(deprecation.deprecated_in) <= now
        if deprecation.removed_in is None:  # only a GA version stays served for good
            assert re.fullmatch(r"(.*/)?v\d+", api_version), api_version
        else:
            assert _minor(deprecation.removed_in) > now
        if deprecation.use:
            use_version, _, use_kind = deprecation.use.partition(" ")
            assert (use_kind or kind) in BUILTIN[use_version], deprecation.use
            assert (use_version, use_kind or kind) not in DEPRECATED


def test_the_rule_is_advisory_and_reads_every_object() -> None:
    rule = BY_NAME[RULE]
    assert (rule.enforcement, rule.stack, rule.types) == ("advisory", False, None)
    assert rule.why and rule.fix and KUBERNETES_VERSION in rule.description


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_the_stacks_use_no_deprecated_version(stack: str) -> None:
    assert of(run(policy_resources(mocked_stack(stack))), RULE) == []
