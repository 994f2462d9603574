"""The plaintext secret rules (`policy/rules/plaintext_secrets.py`): no-plaintext-secrets and
no-secrets-in-configmaps. An env var from a secretKeyRef passes; breaking one field trips
exactly that rule; an unknown ConfigMap value is named, not silently passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    C0,
    Case,
    PathT,
    assert_trips_only_its_rule,
    config_map,
    deployment,
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
        (
            deployment,
            (
                (
                    (*C0, "env"),
                    [
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    ],
                ),
            ),
        ),
    ],
    ids=[
        "env-from-secret",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case(
        "no-plaintext-secrets",
        "secret-name",
        deployment,
        (((*C0, "env"), [{"name": "DB_PASSWORD", "value": "hunter2"}]),),
        "sets DB_PASSWORD in plain text",
    ),
    Case(
        "no-plaintext-secrets",
        "credential-url",
        deployment,
        (((*C0, "env"), [{"name": "DATABASE", "value": "postgres://app:hunter2@db:5432/app"}]),),
        "env DATABASE holds what looks like a credential",
    ),
    Case(
        "no-secrets-in-configmaps",
        "secret-key",
        lambda: config_map(data={"api_token": "abc"}),
        (),
        "ConfigMap key 'api_token' looks like a secret",
    ),
    Case(
        "no-secrets-in-configmaps",
        "private-key-value",
        lambda: config_map(data={"tls.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n"}),
        (),
        "ConfigMap key 'tls.pem' holds what looks like a credential",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory, never silently passed.
# --------------------------------------------------------------------------------------


def test_unknown_configmap_value_is_named_not_silently_passed() -> None:
    # BUG plaintext_secrets.py:57-60 (check_config_map): a value that is not a str is skipped, so an Output value
    # (e.g. a connection string built from a password) passes preview without a word.
    mine = of(run([config_map(data={"LOG_LEVEL": "info", "DATABASE_URL": UNKNOWN})]), "no-secrets-in-configmaps")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)
    assert "DATABASE_URL" in mine[0].message
