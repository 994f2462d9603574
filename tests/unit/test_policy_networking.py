"""The networking rules (`policy/rules/networking.py`): no-node-port, load-balancer-ingress-only,
no-external-ips, ingress-tls and ingress-no-snippets. Compliant variants (an ingress controller's LoadBalancer, an
ExternalName Service) pass; breaking one field trips exactly that rule; the
ingressControllers option; unknown TLS hosts are an advisory, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    DELETE,
    LABELS,
    Case,
    PathT,
    assert_trips_only_its_rule,
    deployment,
    edited,
    ingress,
    of,
    run,
    run_variant,
    service,
    summary,
)

# --------------------------------------------------------------------------------------
# Passing: compliant variants of this family's objects.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        (
            lambda: edited(
                service(),
                (("spec", "type"), "LoadBalancer"),
                ((*LABELS, "app.kubernetes.io/name"), "ingress-nginx"),
                (("spec", "selector"), {"app.kubernetes.io/name": "api"}),
            ),
            (),
        ),
        (
            lambda: edited(service(), (("spec", "type"), "ExternalName"), (("spec", "selector"), {"app": "elsewhere"})),
            (),
        ),
        # A hostless rule under a tls entry without hosts: the controller's default certificate.
        (ingress, ((("spec", "rules", 0, "host"), DELETE), (("spec", "tls", 0, "hosts"), DELETE))),
        # Typed ingress-nginx annotations, and a snippet-named key of another controller.
        (
            ingress,
            (
                (
                    ("metadata", "annotations"),
                    {
                        "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
                        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                        "example.com/server-snippet": "documentation only",
                    },
                ),
            ),
        ),
    ],
    ids=[
        "ingress-controller-load-balancer",
        "external-name-service",
        "hostless-rule-default-certificate",
        "typed-annotations",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------


def _lb() -> Resource:
    return edited(service(), (("spec", "type"), "LoadBalancer"))


CASES = [
    Case("no-node-port", "node-port", service, ((("spec", "type"), "NodePort"),), "spec.type is NodePort"),
    Case("load-balancer-ingress-only", "app-lb", _lb, (), "is not an ingress controller (app.kubernetes.io/name 'api'"),
    Case(
        "no-external-ips",
        "external-ips",
        service,
        ((("spec", "externalIPs"), ["203.0.113.10"]),),
        "spec.externalIPs is set (203.0.113.10)",
    ),
    Case("ingress-tls", "no-tls", ingress, ((("spec", "tls"), DELETE),), "spec.tls is empty"),
    Case(
        "ingress-tls",
        "uncovered-host",
        ingress,
        ((("spec", "rules"), [{"host": "api.azora.example"}, {"host": "admin.azora.example"}]),),
        "host 'admin.azora.example' has no tls entry",
    ),
    Case(
        "ingress-tls",
        "hostless-rule",  # answers every host name, over plain HTTP
        ingress,
        ((("spec", "rules", 0, "host"), DELETE),),
        "spec.rules[0] has no host, so it answers every host name",
    ),
    Case(
        "ingress-no-snippets",
        "configuration-snippet",
        ingress,
        ((("metadata", "annotations"), {"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;"}),),
        "metadata.annotations['nginx.ingress.kubernetes.io/configuration-snippet'] puts raw nginx configuration",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Options: the ingress controllers a LoadBalancer may belong to.
# --------------------------------------------------------------------------------------


def test_ingress_controllers_option() -> None:
    assert run([_lb(), deployment()], {"load-balancer-ingress-only": {"ingressControllers": ["api"]}}) == []


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory, never silently passed.
# --------------------------------------------------------------------------------------


def test_unknown_tls_hosts_are_advisory_not_a_crash() -> None:
    # BUG networking.py:55 (check_ingress_tls): `for host in (get(entry, "hosts") or [])` iterates UNKNOWN and raises
    # TypeError when an Ingress's TLS hosts come from an Output (a DNS name from another resource).
    resource = edited(ingress(), (("spec", "tls", 0, "hosts"), UNKNOWN))
    mine = of(run([resource]), "ingress-tls")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)
