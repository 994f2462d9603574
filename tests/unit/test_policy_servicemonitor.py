"""`servicemonitor-selects-service` (advisory; kube-linter `dangling-servicemonitor`): a
ServiceMonitor whose selector and namespaceSelector match no Service, or whose endpoint names a
port the matched Services lack, scrapes nothing. Failing sets with their exact messages, close
look-alikes that pass (matchExpressions, `any`, other namespaces, the cluster's own `kubernetes`
Service, a blue/green pair), unknown values, the index, the CrossGuard glue, and the stacks'
own ServiceMonitors (kube-prometheus-stack in staging and production).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.catalog import BY_NAME
from policy.rules.model import UNKNOWN, Resource
from policy.rules.relations import build_index
from tests.conftest import mocked_stack
from tests.unit.policy_support import NS, blue_green, default_deny, deployment, edited, namespace, of, run, service
from tests.unit.test_policy_adapters import Reports, _policy, _stack_args, _urn
from tests.unit.test_policy_relations import RelationCase
from tests.unit.test_stacks_pass_policy import policy_resources

RULE = "servicemonitor-selects-service"
TOKEN = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
OUTSIDE = " (a Service there may come from outside the set: check it exists in the cluster)"
SILENT = (
    ", so Prometheus scrapes nothing and the metrics are lost silently; select the labels on the Service "
    "(metadata.labels, not its pod selector), or fix spec.namespaceSelector"
)


def monitor(
    app: str = "api",
    *,
    selector: Any = None,
    namespace_selector: Any = None,
    port: Any = "http",
    ns: Any = NS,
) -> Resource:
    """A ServiceMonitor as the platform writes one: its app's Service, its own namespace, port `http`."""
    spec: dict[str, Any] = {
        "selector": selector if selector is not None else {"matchLabels": {"app.kubernetes.io/name": app}},
        "endpoints": [{"port": port, "path": "/metrics", "interval": "30s"}],
    }
    if namespace_selector is not None:
        spec["namespaceSelector"] = namespace_selector
    props = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": app, "namespace": ns},
        "spec": spec,
    }
    return Resource(TOKEN, props, app)


def http_service(name: str = "api", ns: str = NS) -> Resource:
    """A Service labelled `app.kubernetes.io/name: <name>` with a port named `http`."""
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    return edited(service(name, namespace=ns), (("spec", "ports"), ports))


def owned(*resources: Resource) -> list[Resource]:
    """`resources` in a namespace the set declares, with its default deny and a workload."""
    return [namespace(), default_deny(), deployment(), *resources]


def found(resources: list[Resource]) -> list[tuple[str, str, str]]:
    return [(v.enforcement, v.resource, v.message) for v in of(run(resources), RULE)]


# The engine's catalogue coverage reads family files' CASES; these are this family's.
CASES = [
    RelationCase(
        RULE,
        "label-typo-in-a-declared-namespace",
        lambda: owned(http_service(), monitor("apii")),
        (
            "advisory",
            "ServiceMonitor/shop/apii",
            "spec.selector app.kubernetes.io/name=apii matches no Service's labels in namespace 'shop'" + SILENT,
        ),
    ),
    RelationCase(
        RULE,
        "namespace-not-declared",
        lambda: [http_service(), monitor("web")],
        (
            "advisory",
            "ServiceMonitor/shop/web",
            "spec.selector app.kubernetes.io/name=web matches no Service's labels in namespace 'shop'"
            + OUTSIDE
            + SILENT,
        ),
    ),
    # The operator's default is the ServiceMonitor's own namespace, not every namespace.
    RelationCase(
        RULE,
        "service-in-another-namespace-without-namespace-selector",
        lambda: [http_service(), monitor(ns="monitoring")],
        (
            "advisory",
            "ServiceMonitor/monitoring/api",
            "spec.selector app.kubernetes.io/name=api matches no Service's labels in namespace 'monitoring'"
            + OUTSIDE
            + SILENT,
        ),
    ),
    RelationCase(
        RULE,
        "match-names-miss",
        lambda: owned(http_service(), monitor(namespace_selector={"matchNames": ["shop-staging"]})),
        (
            "advisory",
            "ServiceMonitor/shop/api",
            "spec.selector app.kubernetes.io/name=api matches no Service's labels in namespace 'shop-staging'"
            + OUTSIDE
            + SILENT,
        ),
    ),
    RelationCase(
        RULE,
        "match-expressions-exclude-it",
        lambda: owned(
            http_service(),
            monitor(
                selector={
                    "matchLabels": {"app.kubernetes.io/part-of": "azora"},
                    "matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["api"]}],
                }
            ),
        ),
        (
            "advisory",
            "ServiceMonitor/shop/api",
            "spec.selector app.kubernetes.io/part-of=azora, 1 matchExpressions matches no Service's labels in "
            "namespace 'shop'" + SILENT,
        ),
    ),
    RelationCase(
        RULE,
        "any-namespace-nothing-matches",
        lambda: owned(http_service(), monitor("ghost", namespace_selector={"any": True})),
        (
            "advisory",
            "ServiceMonitor/shop/ghost",
            "spec.selector app.kubernetes.io/name=ghost matches no Service's labels in any namespace"
            + OUTSIDE
            + SILENT,
        ),
    ),
    RelationCase(
        RULE,
        "endpoint-port-the-service-lacks",
        lambda: owned(http_service(), monitor(port="metrics")),
        (
            "advisory",
            "ServiceMonitor/shop/api",
            "spec.endpoints[0].port 'metrics' is no port of Service/shop/api (they have: http), so it scrapes "
            "nothing; name a port the Service declares",
        ),
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_a_dangling_service_monitor_is_named(case: RelationCase) -> None:
    assert found(case.resources()) == [case.expected]


def blue_green_pair() -> list[Resource]:
    """A blue/green pair whose active and preview Services name their port `http`, and its monitor."""
    named = [edited(r, (("spec", "ports", 0, "name"), "http")) if r.kind == "Service" else r for r in blue_green()]
    return [namespace(), default_deny(), *named, monitor("web", namespace_selector={"matchNames": [NS]})]


PASSING: dict[str, Callable[[], list[Resource]]] = {
    "the-platform-shape": lambda: owned(http_service(), monitor(namespace_selector={"matchNames": [NS]})),
    "own-namespace-by-default": lambda: owned(http_service(), monitor()),
    # Both colours' Services carry the app's labels: the selector matches the pair.
    "blue-green-pair": blue_green_pair,
    "match-expressions-in": lambda: owned(
        http_service(),
        monitor(
            selector={"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["api"]}]}
        ),
    ),
    "empty-selector-selects-every-service": lambda: owned(http_service(), monitor(selector={})),
    "any-namespace": lambda: [http_service(), monitor(ns="monitoring", namespace_selector={"any": True})],
    "match-names-elsewhere": lambda: [
        http_service(),
        monitor(ns="monitoring", namespace_selector={"matchNames": [NS]}),
    ],
    # The API server's own Service is in every cluster (kube-prometheus-stack's apiserver monitor).
    "the-clusters-kubernetes-service": lambda: [
        monitor(
            "apiserver",
            ns="monitoring",
            selector={"matchLabels": {"component": "apiserver", "provider": "kubernetes"}},
            namespace_selector={"matchNames": ["default"]},
            port="https",
        )
    ],
    # One of the matched Services having the port is enough: each Service gives the targets it can.
    "port-on-one-of-two": lambda: owned(
        http_service(),
        edited(service("api-admin"), (("metadata", "labels", "app.kubernetes.io/name"), "api")),
        monitor(),
    ),
    "target-port-only": lambda: owned(
        http_service(), edited(monitor(), (("spec", "endpoints"), [{"targetPort": 8080, "path": "/metrics"}]))
    ),
    # The CRD requires spec.selector; the API server rejects such an object before Prometheus sees it.
    "no-selector-is-the-api-servers": lambda: owned(edited(monitor(), (("spec",), {}))),
}


@pytest.mark.parametrize("build", list(PASSING.values()), ids=list(PASSING))
def test_look_alikes_pass(build: Callable[[], list[Resource]]) -> None:
    assert found(build()) == []


def test_unknown_parts_are_named_not_passed() -> None:
    unknown_selector = edited(monitor(), (("spec", "selector"), UNKNOWN))
    unknown_port = edited(monitor("web"), (("spec", "endpoints", 0, "port"), UNKNOWN))
    unknown_labels = edited(http_service("other"), (("metadata", "labels"), UNKNOWN))
    assert found(owned(http_service(), http_service("web"), unknown_selector, unknown_port)) == [
        (
            "advisory",
            "ServiceMonitor/shop/api",
            "not checked during preview: spec.selector is not known during preview; it is checked again on update",
        ),
        (
            "advisory",
            "ServiceMonitor/shop/web",
            "not checked during preview: spec.endpoints[0].port is not known "
            "during preview; it is checked again on update",
        ),
    ]
    assert [message for _, _, message in found(owned(unknown_labels, monitor("other")))] == [
        "not checked during preview: the labels of the Services it could select is not known during preview; "
        "it is checked again on update"
    ]


def test_index_looks_services_up_by_their_own_labels() -> None:
    services = [http_service(f"app{i}") for i in range(2000)]
    index = build_index([*services, http_service("app1", ns="elsewhere"), deployment("app7")])
    assert index.labelled_services(NS, {"matchLabels": {"app.kubernetes.io/name": "app1999"}}) == [services[1999]]
    assert len(index.service_labels[(NS, "app.kubernetes.io/part-of", "azora")]) == 2000
    assert index.labelled_services("elsewhere", {"matchLabels": {"app.kubernetes.io/name": "app1"}})[0].namespace == (
        "elsewhere"
    )
    # A workload's pod labels are no Service's labels.
    assert index.selected(NS, {"matchLabels": {"app.kubernetes.io/name": "app7"}})[0].kind == "Deployment"


def test_through_the_sdk_the_finding_names_the_service_monitor() -> None:
    resources = [http_service(), monitor("apii")]
    reports = Reports()
    _policy(RULE).validate(_stack_args(resources), reports)
    assert [(m.split(": ")[0], urn) for m, urn in reports.calls] == [("ServiceMonitor/shop/apii", _urn(resources[1]))]


def test_the_rule_is_advisory_and_reads_only_service_monitors() -> None:
    rule = BY_NAME[RULE]
    assert (rule.enforcement, rule.stack) == ("advisory", True)
    assert rule.reads == frozenset({("monitoring.coreos.com", "ServiceMonitor")})


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_the_stacks_service_monitors_select_their_services(stack: str) -> None:
    resources = policy_resources(mocked_stack(stack))
    monitors = [r for r in resources if r.type == TOKEN]
    assert len(monitors) == (0 if stack == "local" else 6)  # the embedded Prometheus needs none
    assert of(run(resources), RULE) == []
    if monitors:  # the rule saw them: a selector typo in one is named, on that one
        broken = edited(monitors[0], (("spec", "selector", "matchLabels", "app.kubernetes.io/name"), "typo"))
        again = [broken if r is monitors[0] else r for r in resources]
        assert [v.resource for v in of(run(again), RULE)] == [monitors[0].display]
