"""The security context rules (`policy/rules/security_context.py`): run-as-non-root,
no-privileged, no-privilege-escalation, read-only-root-filesystem, drop-all-capabilities,
seccomp-profile, default-proc-mount and no-service-account-token. Compliant variants pass;
breaking one field trips exactly that rule; an unknown capability is an advisory, never a
violation or a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.model import UNKNOWN, Resource
from tests.unit.policy_support import (
    DELETE,
    POD,
    SC,
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
)

# --------------------------------------------------------------------------------------
# Passing: compliant variants of this family's objects.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        (deployment, (((*SC, "capabilities", "add"), ["NET_BIND_SERVICE"]),)),
        # seccomp on the container instead of the pod; runAsNonRoot on the container only.
        (
            deployment,
            (
                ((*POD, "securityContext"), {}),
                ((*SC, "seccompProfile"), {"type": "Localhost", "localhostProfile": "p.json"}),
                ((*SC, "runAsNonRoot"), True),
            ),
        ),
        (deployment, (((*SC, "procMount"), "Default"),)),
    ],
    ids=[
        "net-bind-service",
        "container-level-seccomp",
        "proc-mount-default",
    ],
)
def test_compliant_variants_pass(base: Callable[[], Resource], edits: tuple[tuple[PathT, Any], ...]) -> None:
    assert run_variant(base, edits) == []


# --------------------------------------------------------------------------------------
# Failing: one field of a compliant object broken at a time.
# --------------------------------------------------------------------------------------

CASES = [
    Case("run-as-non-root", "uid-0", deployment, (((*SC, "runAsUser"), 0),), "runs as user 0"),
    Case(
        "run-as-non-root",
        "pod-allows-root",
        deployment,
        (((*POD, "securityContext", "runAsNonRoot"), False),),
        "spec.template.spec.securityContext.runAsNonRoot is false; set it to true "
        "(Pod Security Standards Restricted: Running as Non-root)",
    ),
    # The pod's own false or UID 0 breaks the standard even when every container overrides it.
    Case(
        "run-as-non-root",
        "pod-false-containers-true",
        deployment,
        (((*POD, "securityContext", "runAsNonRoot"), False), ((*SC, "runAsNonRoot"), True)),
        "spec.template.spec.securityContext.runAsNonRoot is false; set it to true",
    ),
    Case(
        "run-as-non-root",
        "pod-uid-0-containers-override",
        deployment,
        (((*POD, "securityContext", "runAsUser"), 0), ((*SC, "runAsUser"), 10001)),
        "spec.template.spec.securityContext.runAsUser is 0 (root); set a non-zero UID "
        "(Pod Security Standards Restricted: Running as Non-root user)",
    ),
    Case(
        "run-as-non-root",
        "container-overrides-pod",
        deployment,
        (((*SC, "runAsNonRoot"), False),),
        "container 'api' (spec.template.spec.containers[0]) sets runAsNonRoot: false; set it to true",
    ),
    Case("no-privileged", "privileged", deployment, (((*SC, "privileged"), True),), "is privileged"),
    Case(
        "no-privilege-escalation",
        "true",
        deployment,
        (((*SC, "allowPrivilegeEscalation"), True),),
        "set securityContext.allowPrivilegeEscalation: false",
    ),
    Case(
        "no-privilege-escalation",
        "unset",
        deployment,
        (((*SC, "allowPrivilegeEscalation"), DELETE),),
        "allowPrivilegeEscalation: false",
    ),
    Case(
        "read-only-root-filesystem",
        "writable",
        deployment,
        (((*SC, "readOnlyRootFilesystem"), False),),
        "set securityContext.readOnlyRootFilesystem: true",
    ),
    Case(
        "drop-all-capabilities",
        "drops-nothing",
        deployment,
        (((*SC, "capabilities"), {"drop": ["NET_RAW"]}),),
        "does not drop ALL capabilities; add capabilities.drop: [ALL] "
        "(Pod Security Standards Restricted: Capabilities)",
    ),
    Case(
        "drop-all-capabilities",
        "adds-sys-admin",
        deployment,
        (((*SC, "capabilities", "add"), ["SYS_ADMIN", "NET_BIND_SERVICE"]),),
        "adds capabilities SYS_ADMIN; only NET_BIND_SERVICE may be added "
        "(Pod Security Standards Baseline and Restricted: Capabilities)",
    ),
    # CHOWN is in Baseline's list: only Restricted is broken.
    Case(
        "drop-all-capabilities",
        "adds-chown",
        deployment,
        (((*SC, "capabilities", "add"), ["CHOWN"]),),
        "adds capabilities CHOWN; only NET_BIND_SERVICE may be added (Pod Security Standards Restricted: Capabilities)",
    ),
    Case(
        "seccomp-profile",
        "unconfined",
        deployment,
        (((*POD, "securityContext", "seccompProfile", "type"), "Unconfined"),),
        "spec.template.spec.securityContext.seccompProfile.type is 'Unconfined'; set it to RuntimeDefault "
        "(or Localhost) (Pod Security Standards Baseline and Restricted: Seccomp)",
    ),
    Case(
        "seccomp-profile",
        "pod-unconfined-containers-override",
        deployment,
        (
            ((*POD, "securityContext", "seccompProfile", "type"), "Unconfined"),
            ((*SC, "seccompProfile"), {"type": "RuntimeDefault"}),
        ),
        "spec.template.spec.securityContext.seccompProfile.type is 'Unconfined'",
    ),
    Case(
        "seccomp-profile",
        "container-unconfined",
        deployment,
        (((*SC, "seccompProfile"), {"type": "Unconfined"}),),
        "container 'api' (spec.template.spec.containers[0]) has seccomp profile 'Unconfined'; "
        "set seccompProfile.type: RuntimeDefault on the pod or container "
        "(Pod Security Standards Baseline and Restricted: Seccomp)",
    ),
    Case(
        "seccomp-profile",
        "unset",
        deployment,
        (((*POD, "securityContext", "seccompProfile"), DELETE),),
        "has seccomp profile none; set seccompProfile.type: RuntimeDefault on the pod or container "
        "(Pod Security Standards Restricted: Seccomp)",
    ),
    Case(
        "default-proc-mount", "unmasked", deployment, (((*SC, "procMount"), "Unmasked"),), "uses procMount 'Unmasked'"
    ),
    Case(
        "no-service-account-token",
        "true",
        deployment,
        (((*POD, "automountServiceAccountToken"), True),),
        "spec.template.spec.automountServiceAccountToken is not false",
    ),
    Case(
        "no-service-account-token",
        "unset",
        deployment,
        (((*POD, "automountServiceAccountToken"), DELETE),),
        "automountServiceAccountToken is not false",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_breaking_one_field_trips_exactly_that_rule(case: Case) -> None:
    assert_trips_only_its_rule(case)


# --------------------------------------------------------------------------------------
# Unknowns: a part a rule could not check is an advisory, never silently passed.
# --------------------------------------------------------------------------------------


def test_unknown_dropped_capability_is_advisory_not_a_violation() -> None:
    # BUG security_context.py:87 (check_capabilities): `"ALL" not in [UNKNOWN]` reports a *mandatory*
    # "does not drop ALL" for a drop list whose element is not known yet.
    mine = of(run([edited(deployment(), ((*SC, "capabilities", "drop"), [UNKNOWN]))]), "drop-all-capabilities")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)


def test_unknown_added_capability_is_advisory_not_a_crash() -> None:
    # BUG security_context.py:92-96 (check_capabilities): `", ".join(sorted({UNKNOWN}))` raises TypeError, so the
    # whole evaluation (and the SDK policy) crashes on an unknown capabilities.add element.
    mine = of(run([edited(deployment(), ((*SC, "capabilities", "add"), [UNKNOWN]))]), "drop-all-capabilities")
    assert [v.enforcement for v in mine] == ["advisory"], summary(mine)


# --------------------------------------------------------------------------------------
# no-service-account-token looks the pod's ServiceAccount up in the set.
# --------------------------------------------------------------------------------------

UNSET = ((*POD, "automountServiceAccountToken"), DELETE)


@pytest.mark.parametrize(
    ("edits", "account"),
    [
        ((UNSET, ((*POD, "serviceAccountName"), "api")), service_account("api")),
        ((UNSET,), service_account("default")),  # no serviceAccountName: the pod runs as `default`
    ],
    ids=["named-account-off", "default-account-off"],
)
def test_token_off_on_the_service_account_passes(edits: tuple[tuple[PathT, Any], ...], account: Resource) -> None:
    assert run([edited(deployment(), *edits), account]) == []


@pytest.mark.parametrize(
    ("edits", "account"),
    [
        # The pod's own `true` beats its ServiceAccount's `false`.
        ((((*POD, "automountServiceAccountToken"), True), ((*POD, "serviceAccountName"), "api")), service_account()),
        # Same name, another namespace: not the pod's account.
        ((UNSET, ((*POD, "serviceAccountName"), "api")), service_account(namespace="other")),
        ((UNSET, ((*POD, "serviceAccountName"), "api")), service_account(automount=None)),
    ],
    ids=["pod-true-beats-account", "account-in-other-namespace", "account-leaves-it-unset"],
)
def test_token_still_fires_when_the_account_does_not_turn_it_off(
    edits: tuple[tuple[PathT, Any], ...], account: Resource
) -> None:
    violations = run([edited(deployment(), *edits), account])
    assert summary(violations) == [("no-service-account-token", "mandatory", "Deployment/shop/api")]
    assert violations[0].message.startswith("spec.template.spec.automountServiceAccountToken is not false; set it")


def test_an_unknown_account_setting_is_advisory() -> None:
    account = service_account()
    account.props["automountServiceAccountToken"] = UNKNOWN  # type: ignore[index]
    subject = edited(deployment(), UNSET, ((*POD, "serviceAccountName"), "api"))
    assert summary(run([subject, account])) == [("no-service-account-token", "advisory", "Deployment/shop/api")]
