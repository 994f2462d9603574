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
    edited,
    of,
    run,
    run_variant,
    summary,
)

# Close look-alikes of a plain-text secret, none of which may fire.
ENV_LOOK_ALIKES = {
    "password-file": ("PASSWORD_FILE", "/run/secrets/db-password"),
    "token-url": ("TOKEN_URL", "https://auth.azora.example/oauth/token"),
    "secret-name": ("SECRET_NAME", "db-creds"),
    "empty": ("DB_PASSWORD", ""),
    "placeholder": ("DB_PASSWORD", "${DB_PASSWORD}"),
    "kubernetes-expansion": ("API_TOKEN", "$(API_TOKEN_FROM_SECRET)"),
    "flag": ("REQUIRE_PASSWORD", "true"),
    "token-ttl": ("TOKEN_TTL", "3600"),
    "cache-key": ("CACHE_KEY", "sessions-v2"),
    "bypass-word": ("BYPASS_CACHE", "sometimes"),
    "url-without-password": ("DATABASE_URL", "postgres://db.shop.svc:5432/app"),
    "public-key": ("SIGNING_CERT", "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----"),
    "akia-too-short": ("AWS_REGION_HINT", "AKIA1234"),
}
CONFIG_MAP_LOOK_ALIKES = {
    "token-url": {"TOKEN_URL": "https://auth.azora.example/oauth/token"},
    "secret-name": {"secret_name": "db-creds"},
    "password-file": {"passwordFile": "/run/secrets/db"},
    "placeholder": {"api_key": "${API_KEY}"},
    "empty": {"client_secret": ""},
    "ca-certificate": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"},
}

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
        *(
            (deployment, (((*C0, "env"), [{"name": name, "value": value}]),))
            for name, value in ENV_LOOK_ALIKES.values()
        ),
        *((lambda data=data: config_map(data=data), ()) for data in CONFIG_MAP_LOOK_ALIKES.values()),
    ],
    ids=[
        "env-from-secret",
        *(f"env-{case}" for case in ENV_LOOK_ALIKES),
        *(f"configmap-{case}" for case in CONFIG_MAP_LOOK_ALIKES),
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

# A value of each credential shape (fake, built so no scanner mistakes this file for a leak).
SHAPES = {
    "openssh-key": ("-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1r...", "a private key"),
    "pgp-key": ("-----BEGIN PGP " + "PRIVATE KEY BLOCK-----", "a private key"),
    "aws-key-id": ("AKIA" + "Z7XQ4RJ2M5N8B3K6", "an AWS access key id"),
    "github-classic": ("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a GitHub token"),
    "github-fine-grained": ("github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnop", "a GitHub token"),
    "slack": ("xoxb-" + "1234567890-abcdefghij", "a Slack token"),
    "google-api-key": ("AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "a Google API key"),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJhcGkifQ.c2lnbmF0dXJlLXZhbHVl", "a JWT"),
    "url-password": ("amqp://app:hunter2@rabbit:5672/", "a URL with a password"),
}

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
    *(
        Case(
            "no-plaintext-secrets",
            f"name-{name.lower()}",
            lambda name=name: edited(deployment(), ((*C0, "env"), [{"name": name, "value": "s3cr3t-Value"}])),
            (),
            f"container 'api' sets {name} in plain text; use valueFrom.secretKeyRef",
        )
        for name in ("DB_PASS", "apiKey", "STRIPE_SECRET_KEY", "PRIVATE_KEY", "GITHUB_TOKEN", "SENTRY_DSN")
    ),
    *(
        Case(
            "no-plaintext-secrets",
            f"shape-{case}",
            lambda value=value: edited(deployment(), ((*C0, "env"), [{"name": "EXTRA", "value": value}])),
            (),
            f"container 'api' env EXTRA holds what looks like a credential ({what}); move it to a Secret",
        )
        for case, (value, what) in SHAPES.items()
    ),
    *(
        Case(
            "no-secrets-in-configmaps",
            f"shape-{case}",
            lambda value=value: config_map(data={"settings.yaml": f"log: info\nextra: {value}\n"}),
            (),
            f"ConfigMap key 'settings.yaml' holds what looks like a credential ({what}); put it in a Secret",
        )
        for case, (value, what) in SHAPES.items()
    ),
    Case(
        "no-secrets-in-configmaps",
        "camel-case-key",
        lambda: config_map(data={"clientSecret": "5f2b9c"}),
        (),
        "ConfigMap key 'clientSecret' looks like a secret; put it in a Secret",
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
