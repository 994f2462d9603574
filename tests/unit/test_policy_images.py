"""The image rules (`policy/rules/images.py`): image-tag-pinned, allowed-registries and
image-pull-policy. Compliant variants (a digest, a semver pre-release, an allowed registry)
pass; breaking one field trips exactly that rule; the allowed-registries option replaces the
default list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.model import Resource
from tests.unit.policy_support import (
    C0,
    DELETE,
    POD_PATHS,
    PRODUCTION,
    Case,
    PathT,
    assert_trips_only_its_rule,
    deployment,
    edited,
    run,
    run_variant,
    workload,
)

# --------------------------------------------------------------------------------------
# Passing: compliant variants of this family's objects.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        # A digest pins an image even without a tag, and even in production (a DaemonSet has
        # no replica floor, so nothing else applies to this production object).
        (
            lambda: workload("DaemonSet", extra_labels={"azora.io/environment": "production"}),
            ((POD_PATHS["DaemonSet"] + ("containers", 0, "image"), "ghcr.io/azora/api@sha256:" + "a" * 64),),
        ),
        (deployment, (((*C0, "image"), "ghcr.io/azora/api:v2.0.0-rc.1"),)),
        (deployment, (((*C0, "image"), "registry.k8s.io/pause:3.9"),)),
        (deployment, (((*C0, "image"), "bitnami/redis:7.2.4"),)),  # docker.io/bitnami/ is allowed
    ],
    ids=[
        "digest-in-production",
        "semver-prerelease",
        "registry-k8s-io",
        "docker-hub-short-name",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case("image-tag-pinned", "latest", deployment, (((*C0, "image"), "ghcr.io/azora/api:latest"),), "uses 'latest'"),
    Case(
        "image-tag-pinned",
        "no-tag",
        deployment,
        (((*C0, "image"), "ghcr.io/azora/api"),),
        "'ghcr.io/azora/api' has no tag",
    ),
    Case(
        "image-tag-pinned",
        "production-branch-tag",
        deployment,
        (((*C0, "image"), "ghcr.io/azora/api:main"),),
        "production images need a semver tag",
        settings={"image-tag-pinned": PRODUCTION},
    ),
    Case(
        "allowed-registries",
        "docker-library",
        deployment,
        (((*C0, "image"), "nginx:1.25.3"),),
        "'nginx:1.25.3' is not from an allowed registry",
    ),
    Case(
        "allowed-registries",
        "lookalike-prefix",
        deployment,
        (((*C0, "image"), "ghcr.io/azora-mirror/api:1.4.2"),),
        "is not from an allowed registry",
    ),
    Case(
        "image-pull-policy",
        "always",
        deployment,
        (((*C0, "imagePullPolicy"), "Always"),),
        "pulls Always",
        enforcement="advisory",
    ),
    Case(
        "image-pull-policy",
        "unset",
        deployment,
        (((*C0, "imagePullPolicy"), DELETE),),
        "sets no imagePullPolicy",
        enforcement="advisory",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Options: the allowed-registries list.
# --------------------------------------------------------------------------------------


def test_allowed_registries_option_replaces_the_default_list() -> None:
    nginx = edited(deployment(), ((*C0, "image"), "nginx:1.25.3"))
    settings = {"allowed-registries": {"registries": ["docker.io/library/"]}}
    assert run([nginx], settings) == []
    (violation,) = run([deployment()], settings)
    assert violation.policy == "allowed-registries"
    assert "(docker.io/library/)" in violation.message
