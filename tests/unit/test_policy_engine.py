"""What the policy engine does for every rule, rather than any one family's checks: the catalog
and a whole compliant stack, workload kinds and their pod spec paths, exemptions, numbers as
Pulumi sends them, the production-only switch, that every rule has a failing case in its
family's file, and the unknown-value contract (a part a rule could not check is an advisory,
never silently passed). The rules themselves are tested one family per file
(`test_policy_<family>.py`), settings in `test_policy_settings.py` and the SDK glue in
`test_policy_adapters.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from policy.rules.catalog import BY_NAME, RULE_NAMES, RULES
from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.exemptions import EXEMPT_ANNOTATION, Exemption, exempted_rules, parse_exemptions
from policy.rules.model import UNKNOWN, Resource, Violation, whole_numbers
from tests.unit.policy_support import (
    C0,
    DELETE,
    LABELS,
    POD,
    POD_PATHS,
    PRODUCTION,
    SC,
    TOKENS,
    WORKLOAD_KINDS,
    PathT,
    as_pulumi_sends,
    compliant_stack,
    config_map,
    container,
    deployment,
    edited,
    hpa,
    ingress,
    init_container,
    namespace,
    of,
    pdb,
    pod_spec,
    run,
    service,
    statefulset,
    summary,
    workload,
)
from tests.unit.test_policy_containers import CASES as CONTAINER_CASES
from tests.unit.test_policy_deprecated_api import CASES as DEPRECATED_API_CASES
from tests.unit.test_policy_host_access import CASES as HOST_ACCESS_CASES
from tests.unit.test_policy_hygiene import CASES as HYGIENE_CASES
from tests.unit.test_policy_images import CASES as IMAGE_CASES
from tests.unit.test_policy_kinds import CASES as KIND_CASES
from tests.unit.test_policy_metadata import CASES as METADATA_CASES
from tests.unit.test_policy_namespaces import CASES as NAMESPACE_CASES
from tests.unit.test_policy_networking import CASES as NETWORKING_CASES
from tests.unit.test_policy_plaintext_secrets import CASES as PLAINTEXT_SECRET_CASES
from tests.unit.test_policy_pod_security import CASES as POD_SECURITY_CASES
from tests.unit.test_policy_rbac import CASES as RBAC_CASES
from tests.unit.test_policy_rbac_reach import CASES as RBAC_REACH_CASES
from tests.unit.test_policy_references import CASES as REFERENCE_CASES
from tests.unit.test_policy_relations import CASES as RELATION_CASES
from tests.unit.test_policy_scaling import CASES as SCALING_CASES
from tests.unit.test_policy_scratch_space import CASES as SCRATCH_SPACE_CASES
from tests.unit.test_policy_security_context import CASES as SECURITY_CONTEXT_CASES
from tests.unit.test_policy_servicemonitor import CASES as SERVICEMONITOR_CASES
from tests.unit.test_policy_stack import CASES as STACK_CASES

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
        (
            "no-host-namespaces",
            f"{base}.hostNetwork is true; remove it (Pod Security Standards Baseline: Host Namespaces)",
        )
    ]


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
    floated = [as_pulumi_sends(r) for r in resources]
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
# Coverage: every rule of the catalog has a failing case in its family's file.
# --------------------------------------------------------------------------------------


# Each family's file keeps its own failing cases; together they must cover the catalog.
RESOURCE_CASES = [
    *IMAGE_CASES,
    *CONTAINER_CASES,
    *SECURITY_CONTEXT_CASES,
    *HOST_ACCESS_CASES,
    *POD_SECURITY_CASES,
    *NETWORKING_CASES,
    *METADATA_CASES,
    *NAMESPACE_CASES,
    *DEPRECATED_API_CASES,
    *PLAINTEXT_SECRET_CASES,
    *SCALING_CASES,
    *SCRATCH_SPACE_CASES,
]


def test_every_rule_has_a_failing_case() -> None:
    covered = {
        case.rule
        for case in [
            *RESOURCE_CASES,
            *STACK_CASES,
            *RBAC_CASES,
            *RBAC_REACH_CASES,
            *RELATION_CASES,
            *SERVICEMONITOR_CASES,
            *REFERENCE_CASES,
            *KIND_CASES,
            *HYGIENE_CASES,
        ]
    }
    assert covered == RULE_NAMES


# --------------------------------------------------------------------------------------
# Unknown values during preview: known parts still checked, unknown parts named.
# --------------------------------------------------------------------------------------


def unchecked(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.message.startswith(UNCHECKED_PREFIX)]


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
            UNCHECKED_PREFIX + "spec.template.spec.securityContext.runAsUser is not known during preview; "
            "it is checked again on update (Pod Security Standards Restricted: Running as Non-root user)",
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
