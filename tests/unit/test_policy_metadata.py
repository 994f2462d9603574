"""The metadata rules (`policy/rules/metadata.py`): recommended-labels, no-default-namespace and
policy-exemption-reason. Breaking one field trips exactly that rule. How exemptions suppress
other rules is tested with the engine (`test_policy_engine.py`).
"""

from __future__ import annotations

import pytest

from policy.rules.exemptions import EXEMPT_ANNOTATION
from tests.unit.policy_support import (
    DELETE,
    LABELS,
    Case,
    assert_trips_only_its_rule,
    config_map,
    deployment,
    edited,
    service,
)

# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case(
        "recommended-labels",
        "object",
        deployment,
        (((*LABELS, "app.kubernetes.io/part-of"), DELETE),),
        "metadata.labels lacks app.kubernetes.io/part-of",
    ),
    Case(
        "recommended-labels",
        "pod-template",
        deployment,
        ((("spec", "template", "metadata", "labels", "app.kubernetes.io/name"), DELETE),),
        "the pod template's labels lack app.kubernetes.io/name",
    ),
    Case(
        "recommended-labels",
        "service",
        lambda: edited(service(), (LABELS, {})),
        (),
        "lacks app.kubernetes.io/name, app.kubernetes.io/part-of",
    ),
    Case(
        "no-default-namespace",
        "default",
        lambda: deployment(namespace="default"),
        (),
        "is in the 'default' namespace",
    ),
    Case(
        "no-default-namespace",
        "unset",
        lambda: deployment(namespace=None),
        (),
        "metadata.namespace is not set, so it lands in 'default'",
    ),
    Case(
        "policy-exemption-reason",
        "no-reason",
        deployment,
        ((("metadata", "annotations"), {EXEMPT_ANNOTATION: "no-host-path"}),),
        "exempts 'no-host-path' without a reason; write 'no-host-path: <why>'",
    ),
    Case(
        "policy-exemption-reason",
        "unknown-rule",
        config_map,
        ((("metadata", "annotations"), {EXEMPT_ANNOTATION: "no-such-rule: legacy"}),),
        "names unknown rule 'no-such-rule'",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)
