"""Pod Security Standards coverage across rule families: which rule enforces which control, that
every finding of those rules names its profile and control (in the engine's violations, the
text, JSON and SARIF outputs, the CrossGuard pack and the generated reference), and that every
rule reading containers reads ephemeral containers too, as the standard does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from azora import docs
from policy.rules.catalog import BY_NAME, RULES
from tests.unit.policy_cli_support import invoke, report
from tests.unit.policy_support import (
    Case,
    PathT,
    assert_trips_only_its_rule,
    edited,
    run,
    run_case,
    workload,
)
from tests.unit.test_policy_adapters import Reports, _policy, _resource_args
from tests.unit.test_policy_host_access import CASES as HOST_ACCESS_CASES
from tests.unit.test_policy_pod_security import CASES as POD_SECURITY_CASES
from tests.unit.test_policy_security_context import CASES as SECURITY_CONTEXT_CASES

BASELINE = "Pod Security Standards Baseline: "
RESTRICTED = "Pod Security Standards Restricted: "
# Every control of Kubernetes 1.34's Pod Security Standards page, and the rule enforcing it.
CONTROLS = {
    "pss-host-process": BASELINE + "HostProcess",
    "no-host-namespaces": BASELINE + "Host Namespaces",
    "no-privileged": BASELINE + "Privileged Containers",
    "drop-all-capabilities": "Pod Security Standards Baseline and Restricted: Capabilities",
    "no-host-path": BASELINE + "HostPath Volumes",
    "no-host-port": BASELINE + "Host Ports",
    "pss-host-probes": BASELINE + "Host Probes / Lifecycle Hooks",
    "pss-apparmor": BASELINE + "AppArmor",
    "pss-selinux": BASELINE + "SELinux",
    "default-proc-mount": BASELINE + "/proc Mount Type",
    "seccomp-profile": "Pod Security Standards Baseline and Restricted: Seccomp",
    "pss-sysctls": BASELINE + "Sysctls",
    "pss-volume-types": RESTRICTED + "Volume Types",
    "no-privilege-escalation": RESTRICTED + "Privilege Escalation",
    "run-as-non-root": RESTRICTED + "Running as Non-root, Running as Non-root user",
}
NAMED = re.compile(r" \(Pod Security Standards (Baseline|Restricted|Baseline and Restricted): ([^()]+)\)$")


def test_each_pss_control_has_its_rule() -> None:
    assert {rule.name: rule.standard for rule in RULES if rule.standard} == CONTROLS
    assert all(BY_NAME[name].enforcement == "mandatory" for name in CONTROLS)


PSS_CASES = [
    case for case in (*SECURITY_CONTEXT_CASES, *HOST_ACCESS_CASES, *POD_SECURITY_CASES) if case.rule in CONTROLS
]


@pytest.mark.parametrize("case", [case.param for case in PSS_CASES])
def test_every_finding_names_its_profile_and_control(case: Case) -> None:
    _, violations = run_case(case)
    assert violations
    profiles, _, controls = CONTROLS[case.rule].removeprefix("Pod Security Standards ").partition(": ")
    for violation in violations:
        named = NAMED.search(violation.message)
        assert named, violation.message
        # A finding may name a narrower control than its rule (Restricted only; the non-root user).
        assert named.group(1) in profiles and named.group(2) in controls, violation.message


def test_rules_of_our_own_name_no_standard() -> None:
    broken = edited(workload("Deployment"), (("spec", "template", "spec", "containers", 0, "image"), "api:latest"))
    violations = run([broken])
    assert violations and all("Pod Security Standards" not in v.message for v in violations)


# --------------------------------------------------------------------------------------
# Ephemeral (debug) containers: checked like the others by every Pod Security rule.
# --------------------------------------------------------------------------------------

EPHEMERAL: PathT = ("spec", "ephemeralContainers", 0)


def debugged_pod() -> Any:
    """The compliant Pod with a `kubectl debug` container: no ports, probes or resources (the API
    forbids them on ephemeral containers), a hardened securityContext, the pod's for the rest."""
    resource = workload("Pod")
    debug = {
        "name": "debug",
        "image": "ghcr.io/azora/debug:1.0.0",
        "targetContainerName": "api",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    return edited(resource, (("spec", "ephemeralContainers"), [debug]))


def test_a_hardened_ephemeral_container_passes() -> None:
    assert run([debugged_pod()]) == []


EPHEMERAL_CASES = [
    Case("no-privileged", "privileged", debugged_pod, (((*EPHEMERAL, "securityContext", "privileged"), True),), ""),
    Case(
        "no-privilege-escalation",
        "allowed",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "allowPrivilegeEscalation"), True),),
        "",
    ),
    Case(
        "drop-all-capabilities",
        "sys-ptrace",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "capabilities", "add"), ["SYS_PTRACE"]),),
        "adds capabilities SYS_PTRACE",
    ),
    Case(
        "seccomp-profile",
        "unconfined",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "seccompProfile"), {"type": "Unconfined"}),),
        "",
    ),
    Case(
        "default-proc-mount",
        "unmasked",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "procMount"), "Unmasked"),),
        "",
    ),
    Case("run-as-non-root", "uid-0", debugged_pod, (((*EPHEMERAL, "securityContext", "runAsUser"), 0),), ""),
    Case(
        "no-host-port", "host-port", debugged_pod, (((*EPHEMERAL, "ports"), [{"containerPort": 1, "hostPort": 2}]),), ""
    ),
    Case(
        "pss-host-process",
        "host-process",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "windowsOptions"), {"hostProcess": True}),),
        "",
    ),
    Case(
        "pss-apparmor",
        "unconfined",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "appArmorProfile"), {"type": "Unconfined"}),),
        "",
    ),
    Case(
        "pss-selinux",
        "role",
        debugged_pod,
        (((*EPHEMERAL, "securityContext", "seLinuxOptions"), {"role": "sysadm_r"}),),
        "",
    ),
    Case(
        "pss-host-probes",
        "hook-host",
        debugged_pod,
        (((*EPHEMERAL, "lifecycle"), {"postStart": {"httpGet": {"port": 80, "host": "10.0.0.1"}}}),),
        "",
    ),
]


@pytest.mark.parametrize("case", [case.param for case in EPHEMERAL_CASES])
def test_every_pss_rule_reads_ephemeral_containers(case: Case) -> None:
    assert_trips_only_its_rule(Case(case.rule, case.id, case.base, case.edits, "spec.ephemeralContainers[0]"))
    assert_trips_only_its_rule(case)


def test_read_only_root_filesystem_leaves_ephemeral_containers_alone() -> None:
    # Not a Pod Security control, and a debugging session may well need to write.
    writable = edited(debugged_pod(), ((*EPHEMERAL, "securityContext", "readOnlyRootFilesystem"), False))
    assert run([writable]) == []


# --------------------------------------------------------------------------------------
# Every output says it: text, JSON and SARIF of `azora policy check`, the pack, the reference.
# --------------------------------------------------------------------------------------

UNSAFE_SYSCTL = edited(
    workload("Deployment"), (("spec", "template", "spec", "securityContext", "sysctls"), [{"name": "kernel.msgmax"}])
)
SYSCTLS = "(Pod Security Standards Baseline: Sysctls)"


def _manifest() -> str:
    return yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", **UNSAFE_SYSCTL.props}, sort_keys=False)


def test_the_json_report_names_the_control() -> None:
    code, document = report("-", stdin=_manifest())
    assert code == 1
    sysctls = [v for v in document["violations"] if v["policy"] == "pss-sysctls"]
    assert [(v["enforcement"], v["resource"]) for v in sysctls] == [("mandatory", "Deployment/shop/api")]
    assert sysctls[0]["message"].endswith(SYSCTLS)


def test_the_text_and_sarif_reports_name_the_control() -> None:
    text = invoke("-", stdin=_manifest())
    assert text.exit_code == 1
    assert SYSCTLS in " ".join(text.output.split())  # the console may wrap long lines
    sarif = json.loads(invoke("--format", "sarif", "-", stdin=_manifest()).stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "pss-sysctls"]
    assert result["message"]["text"].endswith(SYSCTLS)


def test_the_crossguard_pack_names_the_control() -> None:
    reports = Reports()
    _policy("pss-sysctls").validate(_resource_args(UNSAFE_SYSCTL), reports)
    assert reports.calls == [
        (
            "Deployment/shop/api: spec.template.spec.securityContext.sysctls[0].name is 'kernel.msgmax', not one "
            "of the safe (pod-isolated) sysctls; remove it, or tune it on the node (docs/policy-reference.md lists "
            f"the safe ones under pss-sysctls) {SYSCTLS}",
            None,
        )
    ]


def test_the_reference_has_a_standard_column() -> None:
    table = docs.policy_reference()
    assert "| rule | level | what it checks | why | how to fix | standard |" in table
    row = next(line for line in table.splitlines() if line.startswith("| `pss-sysctls` |"))
    assert row.endswith("| Pod Security Standards Baseline: Sysctls |")  # test_readme.py keeps docs/ current
