"""The scaling rules (`policy/rules/scaling.py`): production-min-replicas, spread-replicas and
hpa-sanity. A non-production HPA at one replica passes; breaking one field trips exactly that
rule; the minReplicas option; blue/green colours are left to blue-green-pair; an unknown
replica count is an advisory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.engine import UNCHECKED_PREFIX
from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    DELETE,
    POD,
    PRODUCTION,
    Case,
    PathT,
    assert_trips_only_its_rule,
    blue_green,
    deployment,
    edited,
    hpa,
    of,
    pdb,
    run,
    run_variant,
    statefulset,
)

# --------------------------------------------------------------------------------------
# Passing: compliant variants of this family's objects.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        (lambda: hpa(min_replicas=1, max_replicas=1), ()),  # not production: 1 is fine
    ],
    ids=[
        "hpa-non-production",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case(
        "production-min-replicas",
        "one-replica",
        deployment,
        (),
        "spec.replicas is 1; production needs at least 2",
        settings={"production-min-replicas": PRODUCTION},
    ),
    Case(
        "production-min-replicas",
        "unset-means-one",
        deployment,
        ((("spec", "replicas"), DELETE),),
        "spec.replicas is 1",
        settings={"production-min-replicas": PRODUCTION},
    ),
    # A lone replicated StatefulSet also lacks a budget; pdb-coverage is off so this break trips one rule.
    Case(
        "spread-replicas",
        "no-spread",
        lambda: statefulset(replicas=3),
        (((*POD, "topologySpreadConstraints"), DELETE),),
        "3 replicas without topologySpreadConstraints or podAntiAffinity",
        enforcement="advisory",
        settings={"pdb-coverage": "disabled"},
    ),
    Case(
        "hpa-sanity",
        "min-above-max",
        lambda: hpa(min_replicas=5, max_replicas=3),
        (),
        "minReplicas 5 is above maxReplicas 3",
        enforcement="advisory",
    ),
    Case(
        "hpa-sanity",
        "production-min-one",
        lambda: hpa(min_replicas=1),
        (),
        "minReplicas is 1; production autoscalers keep at least 2",
        enforcement="advisory",
        settings={"hpa-sanity": PRODUCTION},
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Options, and the blue/green colours left to the stack rule blue-green-pair.
# --------------------------------------------------------------------------------------


def test_min_replicas_option() -> None:
    two = deployment(replicas=2, extra_labels={"azora.io/environment": "production"})
    assert run([two, pdb()]) == []
    (violation,) = run([two, pdb()], {"production-min-replicas": {"minReplicas": 3}})
    assert (violation.policy, violation.enforcement) == ("production-min-replicas", "mandatory")
    assert "spec.replicas is 2; production needs at least 3" in violation.message


def test_production_min_replicas_leaves_colours_to_blue_green_pair() -> None:
    # The idle colour runs 0 replicas in production: not a production-min-replicas violation.
    resources = blue_green(active_replicas=2, idle_replicas=0, env="production")
    assert run(resources, {"production-min-replicas": PRODUCTION}) == []


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory, never silently passed.
# --------------------------------------------------------------------------------------


def test_production_min_replicas_unknown_is_advisory() -> None:
    prod = deployment(extra_labels={"azora.io/environment": "production"})
    mine = of(run([edited(prod, (("spec", "replicas"), UNKNOWN))]), "production-min-replicas")
    assert [(v.enforcement, v.message) for v in mine] == [
        ("advisory", UNCHECKED_PREFIX + "spec.replicas is not known during preview; it is checked again on update")
    ]
