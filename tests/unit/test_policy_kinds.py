"""Every object accounted for (issue #13): `unknown-kind` and `removed-api` (what fires, with
what message, and the look-alikes that must pass), custom resources listed as unchecked, the
kind tables against Kubernetes 1.34's schema, the migration guide and pulumi-kubernetes' types,
the three stacks, and the CrossGuard glue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi_kubernetes
import pytest
import yaml
from pulumi_policy import ResourceValidationArgs
from pulumi_policy import proxy as sdk_proxy

from azora.toolchain.pins import Pins
from policy.adapters import sdk_policies
from policy.rules.catalog import RULES
from policy.rules.kinds import (
    BUILTIN,
    KUBERNETES_PROJECT_GROUPS,
    KUBERNETES_VERSION,
    PULUMI_TYPES,
    REMOVED,
    classify,
    custom_resources,
    verdict_of,
)
from policy.rules.model import Resource
from tests.conftest import mocked_stack
from tests.unit.policy_cli_support import (
    KIND_RULES,
    invoke,
    kind_violations,
    manifest,
    report,
    stream,
)
from tests.unit.policy_support import Case, assert_trips_only_its_rule, deployment, hpa
from tests.unit.test_policy_adapters import Reports, _options

# --------------------------------------------------------------------------------------
# unknown-kind and removed-api: what fires, with what message, and the look-alikes that pass.
# --------------------------------------------------------------------------------------

UNKNOWN_KINDS = [
    ("v1", "Deployment", "v1 has no kind Deployment in Kubernetes 1.34; set apiVersion: apps/v1"),
    ("apps/v1", "Deploymnet", "apps/v1 has no kind Deploymnet in Kubernetes 1.34; did you mean Deployment (apps/v1)?"),
    ("app/v1", "Deployment", "'app' is no Kubernetes API group, and a custom resource's group has a dot; set apiV"),
    ("batch/v2alpha1", "CronJob", "Kubernetes 1.34 does not serve batch/v2alpha1; set apiVersion: batch/v1"),
    ("v1", "Events", "v1 has no kind Events in Kubernetes 1.34; did you mean Event (v1)?"),
    ("netwroking.k8s.io/v1", "Ingress", "netwroking.k8s.io is reserved to Kubernetes (*.k8s.io)"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization", "is a configuration file format"),
    ("Apps/v1", "Deployment", "apiVersion 'Apps/v1' is not <group>/<version> or v1"),
    ("apps/v1", "DeploymentPatch", "apps/v1 has no kind DeploymentPatch"),  # a Pulumi type, never a manifest's
]

REMOVED_APIS = [
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "use apiVersion: autoscaling/v2"),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", "use apiVersion: autoscaling/v2"),
    ("extensions/v1beta1", "Ingress", "1.22", "use apiVersion: networking.k8s.io/v1"),
    ("extensions/v1beta1", "Deployment", "1.16", "use apiVersion: apps/v1"),
    ("apps/v1beta2", "StatefulSet", "1.16", "use apiVersion: apps/v1"),
    ("networking.k8s.io/v1beta1", "Ingress", "1.22", "use apiVersion: networking.k8s.io/v1"),
    ("policy/v1beta1", "PodDisruptionBudget", "1.25", "use apiVersion: policy/v1"),
    ("policy/v1beta1", "PodSecurityPolicy", "1.25", "use Pod Security Admission"),
    ("batch/v1beta1", "CronJob", "1.25", "use apiVersion: batch/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", "1.26", "use apiVersion: flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration", "1.29", "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.32", "use apiVersion: flowcontrol.apiserver.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27", "use apiVersion: storage.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding", "1.22", "rbac.authorization.k8s.io/v1"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "use apiVersion: apiextensions.k8s.io/v1"),
]

# Objects that look like the ones above and must pass both rules.
LOOK_ALIKES = [
    ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"),
    ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"),
    ("batch/v1", "CronJob"),
    ("v1", "Event"),
    ("events.k8s.io/v1", "Event"),
    # Served beta kinds in a group/version whose other kinds were removed.
    ("networking.k8s.io/v1beta1", "ServiceCIDR"),
    ("storage.k8s.io/v1beta1", "VolumeAttributesClass"),
    ("coordination.k8s.io/v1beta1", "LeaseCandidate"),
    ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    # Custom resources, under k8s.io (Kubernetes projects' CRDs) and elsewhere.
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("cert-manager.io/v1", "Certificate"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"),
    ("cluster.x-k8s.io/v1beta1", "Cluster"),  # x-k8s.io is not k8s.io
]


@pytest.mark.parametrize(
    ("api_version", "kind", "message"), UNKNOWN_KINDS, ids=[f"{a} {k}" for a, k, _ in UNKNOWN_KINDS]
)
def test_unknown_kind_fires_with_the_fix(api_version: str, kind: str, message: str) -> None:
    found = kind_violations(manifest(api_version, kind))
    assert len(found) == 1, found
    rule, resource, text = found[0]
    assert (rule, resource) == ("unknown-kind", f"{kind}/shop/x")
    assert message in text


@pytest.mark.parametrize(
    ("api_version", "kind", "removed_in", "use"), REMOVED_APIS, ids=[f"{a} {k}" for a, k, _, _ in REMOVED_APIS]
)
def test_removed_api_names_the_release_and_the_replacement(
    api_version: str, kind: str, removed_in: str, use: str
) -> None:
    found = kind_violations(manifest(api_version, kind))
    assert [(rule, resource) for rule, resource, _ in found] == [("removed-api", f"{kind}/shop/x")]
    message = found[0][2]
    assert message.startswith(f"{api_version} {kind} was removed in Kubernetes {removed_in}; ")
    assert use in message


@pytest.mark.parametrize(("api_version", "kind"), LOOK_ALIKES, ids=[f"{a} {k}" for a, k in LOOK_ALIKES])
def test_look_alikes_pass_both_rules(api_version: str, kind: str) -> None:
    assert kind_violations(manifest(api_version, kind)) == []


def test_custom_resources_are_listed_as_unchecked_not_reported(tmp_path: Path) -> None:
    text = stream(
        manifest("monitoring.coreos.com/v1", "ServiceMonitor", "a"),
        manifest("monitoring.coreos.com/v1", "PrometheusRule", "alerts"),
        manifest("monitoring.coreos.com/v1", "ServiceMonitor", "b"),
        manifest("monitoring.coreos.com/v1", "ServiceMonitor", "c"),
        manifest("v1", "ConfigMap", "settings"),
    )
    human = invoke("-", stdin=text)
    assert human.exit_code == 0
    assert human.stdout.splitlines() == [
        "5 resources (4 custom resources unchecked: PrometheusRule monitoring.coreos.com/v1 x1, "
        "ServiceMonitor monitoring.coreos.com/v1 x3 [read in part by servicemonitor-selects-service]), "
        "0 mandatory and 0 advisory violations"
    ]
    code, document = report("-", stdin=text)
    assert (code, document["violations"], document["resources"]) == (0, [], 5)
    assert [(u["kind"], u["apiVersion"], u["count"], u["readBy"]) for u in document["unchecked"]] == [
        ("PrometheusRule", "monitoring.coreos.com/v1", 1, []),
        ("ServiceMonitor", "monitoring.coreos.com/v1", 3, ["servicemonitor-selects-service"]),
    ]
    assert document["unchecked"][1]["resources"] == [f"ServiceMonitor/shop/{n}" for n in "abc"]


def test_custom_groups_option_makes_a_k8s_io_group_custom(tmp_path: Path) -> None:
    text = manifest("widgets.example.k8s.io/v1", "Widget")
    assert [rule for rule, _, _ in kind_violations(text)] == ["unknown-kind"]
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"unknown-kind": {"customGroups": ["widgets.example.k8s.io"]}}))
    code, document = report("--config", config, "-", stdin=text)
    assert (code, document["violations"]) == (0, [])
    assert [(u["kind"], u["count"]) for u in document["unchecked"]] == [("Widget", 1)]


def test_an_exemption_with_a_reason_silences_unknown_kind() -> None:
    exempt = {"annotations": {"azora.io/policy-exempt": "unknown-kind: served by our aggregated API"}}
    text = yaml.safe_dump(
        {"apiVersion": "widgets.example.k8s.io/v1", "kind": "Widget", "metadata": {"name": "x", **exempt}}
    )
    assert kind_violations(text) == []


def test_the_rules_are_mandatory_and_say_why() -> None:
    by_name = {rule.name: rule for rule in RULES}
    for name in KIND_RULES:
        rule = by_name[name]
        assert rule.enforcement == "mandatory" and not rule.stack and rule.types is None
        assert rule.why and rule.fix and rule.description
    assert "deploys nothing" in by_name["unknown-kind"].why
    assert [rule.name for rule in RULES][:2] == list(KIND_RULES)  # what an object is comes first


# The engine's catalogue coverage reads family files' CASES; these are this family's.
CASES = [
    Case(
        "unknown-kind",
        "deployment-as-core-v1",
        deployment,
        ((("apiVersion",), "v1"), (("kind",), "Deployment")),
        "v1 has no kind Deployment in Kubernetes 1.34; set apiVersion: apps/v1",
    ),
    Case(
        "removed-api",
        "hpa-v2beta1",
        hpa,
        ((("apiVersion",), "autoscaling/v2beta1"), (("kind",), "HorizontalPodAutoscaler")),
        "autoscaling/v2beta1 HorizontalPodAutoscaler was removed in Kubernetes 1.25; use apiVersion: autoscaling/v2",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_each_case_breaks_exactly_its_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Pulumi's side: type tokens, props as the analyzer sends them, and the CrossGuard glue.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "props", "expected"),
    [
        ("kubernetes:apps/v1:Deployment", {}, "builtin"),
        ("kubernetes:apps/v1:DeploymentPatch", {}, "builtin"),  # server-side apply patch
        ("kubernetes:apps/v1:DeploymentPatch", {"apiVersion": "apps/v1", "kind": "Deployment"}, "builtin"),
        ("kubernetes:core/v1:ConfigMapList", {"apiVersion": "v1", "kind": "ConfigMapList"}, "builtin"),
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", {}, "custom"),  # CustomResource
        ("kubernetes:extensions/v1beta1:Ingress", {}, "removed"),
        ("kubernetes:extensions/v1beta1:DeploymentPatch", {}, "removed"),
        ("kubernetes:apps/v1:Deploymnet", {}, "unknown"),
        ("kubernetes:helm.sh/v4:Chart", {}, None),  # its objects are seen one by one
        ("kubernetes:helm.sh/v3:Release", {}, None),
        ("kubernetes:yaml/v2:ConfigGroup", {}, None),
        ("pulumi:providers:kubernetes", {}, None),
        ("random:index/randomPassword:RandomPassword", {}, None),
        ("azora:deploy:BlueGreenService", {}, None),
    ],
)
def test_pulumi_types_are_judged_by_what_they_send(token: str, props: dict[str, Any], expected: str | None) -> None:
    verdict = verdict_of(Resource(token, props, "r"))
    assert (verdict.category if verdict else None) == expected


def _sdk_args(token: str, props: Mapping[str, Any]) -> ResourceValidationArgs:
    urn = f"urn:pulumi:production::azora::{token}::r"
    return ResourceValidationArgs(
        token, sdk_proxy.unknown_checking_proxy(dict(props)), urn, "r", _options(), None, None
    )


def test_crossguard_applies_the_kind_rules() -> None:
    policies = {p.name: p for p in sdk_policies()}
    meta = {"metadata": {"name": "r", "namespace": "shop"}}
    unknown, removed, quiet = Reports(), Reports(), Reports()
    policies["unknown-kind"].validate(_sdk_args("kubernetes:apps/v1:Deploymnet", meta), unknown)
    policies["removed-api"].validate(
        _sdk_args("kubernetes:policy/v1beta1:PodDisruptionBudget", {"apiVersion": "policy/v1beta1", **meta}), removed
    )
    for token, props in [
        ("kubernetes:apps/v1:DeploymentPatch", {"apiVersion": "apps/v1", "kind": "Deployment", **meta}),
        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", meta),
        ("kubernetes:helm.sh/v4:Chart", {"chart": "ingress-nginx"}),
    ]:
        for name in KIND_RULES:
            policies[name].validate(_sdk_args(token, props), quiet)
    assert [m for m, _ in unknown.calls] == [
        "Deploymnet/shop/r: apps/v1 has no kind Deploymnet in Kubernetes 1.34; did you mean Deployment (apps/v1)?"
    ]
    assert [m for m, _ in removed.calls] == [
        "PodDisruptionBudget/shop/r: policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25; "
        "use apiVersion: policy/v1"
    ]
    assert quiet.calls == []


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_nothing_the_stacks_deploy_is_unknown_or_removed(stack: str) -> None:
    # Every resource the program registers, components, providers and other packages included.
    resources = [Resource(r.type, r.inputs, r.name) for r in mocked_stack(stack).resources]
    verdicts = [(r.type, verdict_of(r)) for r in resources]
    assert [(t, v.message) for t, v in verdicts if v and v.category in ("unknown", "removed")] == []
    custom = {(v.kind, v.api_version) for _, v in custom_resources(resources)}
    expected = (
        set()
        if stack == "local"
        else {
            ("ServiceMonitor", "monitoring.coreos.com/v1"),
            ("PrometheusRule", "monitoring.coreos.com/v1"),
        }
    )
    assert custom == expected
    assert sum(1 for _, v in verdicts if v and v.category == "builtin") > 40  # the checks above saw objects
    charts = set() if stack == "local" else {"kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release"}
    assert {t for t, v in verdicts if v is None} >= {"azora:platform:AzoraPlatform", *charts}


# --------------------------------------------------------------------------------------
# The tables: Kubernetes 1.34's schema, the migration guide, pulumi-kubernetes' types.
# --------------------------------------------------------------------------------------

# Kinds in the OpenAPI that are no objects anyone writes: API discovery and meta types.
META_KINDS = {"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIGroupList", "APIResourceList", "APIVersions"}


def schema_kinds(version: str) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every object kind in kubernetes-validate's schema of `version`."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}.0-local"
    definitions = json.loads((root / "_definitions.json").read_text())["$defs"]
    found = set()
    for schema in definitions.values():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            if gvk["kind"] not in META_KINDS and not gvk["kind"].endswith("List"):
                found.add((api_version, gvk["kind"]))
    return found


def test_the_builtin_table_is_the_kubernetes_schema_of_the_cluster_version() -> None:
    cluster = Pins.load().cluster_kubernetes  # v1.34.1
    assert cluster.removeprefix("v").rsplit(".", 1)[0] == KUBERNETES_VERSION
    table = {(api_version, kind) for api_version, kinds in BUILTIN.items() for kind in kinds}
    assert table == schema_kinds(KUBERNETES_VERSION)


def test_the_removed_table_is_consistent() -> None:
    served = schema_kinds(KUBERNETES_VERSION)
    for (api_version, kind), removal in REMOVED.items():
        assert (api_version, kind) not in served, f"{api_version} {kind} is still served"
        assert tuple(map(int, removal.removed_in.split("."))) <= tuple(map(int, KUBERNETES_VERSION.split(".")))
        if removal.use in BUILTIN:
            assert kind in BUILTIN[removal.use], f"{removal.use} does not serve {kind}"
        else:
            assert kind == "PodSecurityPolicy" and "Pod Security Admission" in removal.use
    # The guide's headline examples.
    assert classify("autoscaling/v2beta1", "HorizontalPodAutoscaler").message.endswith(
        "removed in Kubernetes 1.25; use apiVersion: autoscaling/v2"
    )
    assert all(not group.endswith(".x-k8s.io") for group in KUBERNETES_PROJECT_GROUPS)


def pulumi_resource_tokens() -> set[str]:
    """The resource types pulumi-kubernetes registers (its resource_modules), and its components."""
    source = (Path(pulumi_kubernetes.__file__).parent / "__init__.py").read_text()
    modules = json.loads(re.search(r'resource_modules="""(.*?)"""', source, re.S).group(1))  # type: ignore[union-attr]
    return {token for module in modules for token in module["classes"]}


def test_every_pulumi_kubernetes_type_is_accounted_for() -> None:
    served = schema_kinds(KUBERNETES_VERSION)
    tokens = pulumi_resource_tokens()
    assert len(tokens) > 300
    for token in sorted(tokens):
        verdict = verdict_of(Resource(token, {}, "r"))
        if token in PULUMI_TYPES:
            assert verdict is None, token
            continue
        assert verdict is not None, token
        base = re.sub(r"(Patch|List)$", "", verdict.kind)
        if (verdict.api_version, base) in served:
            assert verdict.category == "builtin", (token, verdict)
        elif (verdict.api_version, base) in REMOVED:
            assert verdict.category == "removed", (token, verdict)
        else:  # an alpha or beta version Kubernetes 1.34 no longer serves
            assert verdict.category == "unknown", (token, verdict)
    # Pulumi's own types (Helm, YAML, Kustomize) that are no API objects: all of them, and real.
    package = Path(pulumi_kubernetes.__file__).parent
    text = "\n".join(
        p.read_text() for p in package.rglob("*.py") if p.parent.name in ("helm", "v3", "v4", "yaml", "v2", "kustomize")
    )
    text = re.sub(r"""Alias\(type_=['"][^'"]*['"]\)""", "", text)  # old names, not types
    own = set(re.findall(r"""['"](kubernetes:(?:helm\.sh|yaml|kustomize)[^'"]*:[A-Z]\w*)['"]""", text))
    assert own == PULUMI_TYPES
