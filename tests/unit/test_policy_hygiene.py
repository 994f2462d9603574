"""The workload hygiene rules (`policy/rules/hygiene.py`): no-bare-pods, dedicated-service-account
and no-deprecated-pod-fields. Each has a manifest that fires with its exact message and a close
look-alike that must not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.exemptions import EXEMPT_ANNOTATION
from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    DELETE,
    POD,
    Case,
    PathT,
    assert_trips_only_its_rule,
    deployment,
    edited,
    of,
    run,
    run_variant,
    service_account,
    summary,
    workload,
)

CALLS_API = (("metadata", "annotations"), {EXEMPT_ANNOTATION: "no-service-account-token: watches ConfigMaps"})
TOKEN_ON = ((*POD, "automountServiceAccountToken"), DELETE)
TEMPLATE_ANNOTATIONS: PathT = ("spec", "template", "metadata", "annotations")


def pod() -> Resource:
    return workload("Pod")


# --------------------------------------------------------------------------------------
# Passing: the close look-alikes of each failing case.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        # A Pod a ReplicaSet made (the builder's Pod is owned).
        (pod, ()),
        # Exempted to call the API, with its own ServiceAccount.
        (deployment, (CALLS_API, TOKEN_ON, ((*POD, "serviceAccountName"), "api"))),
        # Runs as `default` but mounts no token: the account grants it nothing.
        (deployment, (CALLS_API,)),
        (deployment, (((*POD, "serviceAccountName"), "api"),)),
        (deployment, (((*POD, "volumes"), [{"name": "src", "emptyDir": {}}]),)),
        (deployment, ((TEMPLATE_ANNOTATIONS, {"prometheus.io/scrape": "true"}),)),
    ],
    ids=[
        "owned-pod",
        "api-caller-with-own-account",
        "default-account-without-token",
        "service-account-name",
        "empty-dir-volume",
        "unrelated-annotation",
    ],
)
def test_look_alikes_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


def test_token_off_on_the_default_account_passes_an_api_caller() -> None:
    # Exempted, the pod leaves the setting unset, and `default` in the set turns tokens off.
    subject = edited(deployment(), CALLS_API, TOKEN_ON)
    assert run([subject, service_account("default")]) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case(
        "no-bare-pods",
        "no-owner",
        pod,
        ((("metadata", "ownerReferences"), DELETE),),
        "is a bare Pod (no ownerReferences): nothing recreates it when its node fails or drains; "
        "run it from a Deployment, StatefulSet or Job",
        enforcement="advisory",
    ),
    Case(
        "dedicated-service-account",
        "unset",
        deployment,
        (CALLS_API, TOKEN_ON),
        "spec.template.spec mounts an API token as the namespace's 'default' ServiceAccount, which every pod "
        "of the namespace shares; create a ServiceAccount for it and set serviceAccountName",
    ),
    Case(
        "dedicated-service-account",
        "named-default",
        deployment,
        (CALLS_API, ((*POD, "automountServiceAccountToken"), True), ((*POD, "serviceAccountName"), "default")),
        "mounts an API token as the namespace's 'default' ServiceAccount",
    ),
    Case(
        "no-deprecated-pod-fields",
        "service-account",
        deployment,
        (((*POD, "serviceAccountName"), "api"), ((*POD, "serviceAccount"), "api")),
        "spec.template.spec.serviceAccount is deprecated; use spec.template.spec.serviceAccountName",
        enforcement="advisory",
    ),
    Case(
        "no-deprecated-pod-fields",
        "git-repo",
        deployment,
        (
            ((*POD, "volumes"), [{"name": "src", "gitRepo": {"repository": "https://git.example/app.git"}}]),
            # A gitRepo volume also breaks pss-volume-types (mandatory); exempted, the advisory still shows.
            (("metadata", "annotations"), {EXEMPT_ANNOTATION: "pss-volume-types: migrating to a git-sync sidecar"}),
        ),
        "spec.template.spec.volumes[0].gitRepo is deprecated; use an emptyDir volume that an init container "
        "clones into",
        enforcement="advisory",
    ),
    Case(
        "no-deprecated-pod-fields",
        "seccomp-annotation",
        deployment,
        ((TEMPLATE_ANNOTATIONS, {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}),),
        "spec.template.metadata.annotations.seccomp.security.alpha.kubernetes.io/pod is deprecated; "
        "use securityContext.seccompProfile",
        enforcement="advisory",
    ),
    Case(
        "no-deprecated-pod-fields",
        "apparmor-annotation",
        pod,
        ((("metadata", "annotations"), {"container.apparmor.security.beta.kubernetes.io/api": "runtime/default"}),),
        "metadata.annotations.container.apparmor.security.beta.kubernetes.io/api is deprecated; "
        "use the container's securityContext.appArmorProfile",
        enforcement="advisory",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


def test_a_service_account_that_mounts_tokens_does_not_excuse_default() -> None:
    subject = edited(deployment(), CALLS_API, TOKEN_ON)
    mine = of(run([subject, service_account("default", automount=True)]), "dedicated-service-account")
    assert summary(mine) == [("dedicated-service-account", "mandatory", "Deployment/shop/api")]


def test_dedicated_service_account_can_be_exempted() -> None:
    both = (
        ("metadata", "annotations"),
        {EXEMPT_ANNOTATION: CALLS_API[1][EXEMPT_ANNOTATION] + "; dedicated-service-account: legacy"},
    )
    assert run([edited(deployment(), both, TOKEN_ON)]) == []


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory, never silently passed.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "base", "edits", "named"),
    [
        ("no-bare-pods", pod, ((("metadata", "ownerReferences"), UNKNOWN),), "metadata.ownerReferences"),
        (
            "dedicated-service-account",
            deployment,
            (CALLS_API, TOKEN_ON, ((*POD, "serviceAccountName"), UNKNOWN)),
            "spec.template.spec.serviceAccountName",
        ),
        ("no-deprecated-pod-fields", deployment, ((POD, UNKNOWN),), "spec.template.spec"),
    ],
)
def test_unknown_parts_are_named_as_advisory(
    rule: str, base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...], named: str
) -> None:
    mine = of(run_variant(base, edits), rule)
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)
    assert named in mine[0].message
