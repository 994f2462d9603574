"""The RBAC rules where RBAC objects come from: the real stacks (the embedded Prometheus's Role
and RoleBinding pass, and break as soon as they grant more), the CrossGuard pack (as a preview
sends them) and `azora policy check` on a manifest file.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs
from pulumi_policy import proxy as sdk_proxy
from typer.testing import CliRunner

from azora.cli import app
from policy.adapters import sdk_policies
from policy.rules.catalog import BY_NAME
from policy.rules.model import Resource
from tests.conftest import mocked_stack
from tests.unit.rbac_support import (
    AZORA,
    EXEC,
    RBAC_RULES,
    TOKEN,
    WILDCARD_FIX,
    cluster_binding,
    rbac_violations,
    rule,
)
from tests.unit.test_stacks_pass_policy import policy_resources

# --------------------------------------------------------------------------------------
# The real stacks: the embedded Prometheus's Role and RoleBinding pass, and are really checked.
# --------------------------------------------------------------------------------------


def _local_rbac() -> list[Resource]:
    resources = policy_resources(mocked_stack("local"))
    found = [r for r in resources if r.type.startswith(TOKEN)]
    assert sorted(r.kind for r in found) == ["Role", "RoleBinding"]
    return resources


def test_the_local_stack_rbac_passes_every_rbac_rule() -> None:
    assert rbac_violations(_local_rbac()) == []


def test_the_local_stack_rbac_is_really_checked() -> None:
    resources = _local_rbac()
    discovery = next(r for r in resources if r.type == TOKEN + "Role")
    rules = [*discovery.props["rules"], rule(["get"], ["pods/exec"])]
    broken = [Resource(r.type, {**r.props, "rules": rules}, r.name) if r is discovery else r for r in resources]
    assert rbac_violations(broken) == [
        ("rbac-no-exec-attach", discovery.display, 'rules[1] grants verbs ["get"] on resources ["pods/exec"]' + EXEC)
    ]


# --------------------------------------------------------------------------------------
# CrossGuard: the SDK policies see RBAC objects as a preview sends them.
# --------------------------------------------------------------------------------------


def _stack_args(resources: list[Resource]) -> StackValidationArgs:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return StackValidationArgs(
        [
            PolicyResource(
                r.type,
                sdk_proxy.unknown_checking_proxy(
                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": r.kind, **r.props}
                ),
                f"urn:pulumi:production::azora::{r.type}::{r.name}",
                r.name,
                options,
                None,
                None,
                [],
                {},
            )
            for r in resources
        ],
        None,
    )


def test_crossguard_reports_a_cluster_admin_binding_with_its_urn() -> None:
    policies = {policy.name: policy for policy in sdk_policies()}
    assert set(RBAC_RULES) <= set(policies)
    reports: list[tuple[str, str | None]] = []
    admin = cluster_binding("ci-deployer", "cluster-admin")
    policies["rbac-no-cluster-admin-binding"].validate(
        _stack_args([admin]), lambda message, urn=None: reports.append((message, urn))
    )
    assert reports == [
        (
            "ClusterRoleBinding/-/ci-deployer: ClusterRoleBinding ci-deployer binds ClusterRole cluster-admin (the "
            'built-in role grants verbs ["*"] on resources ["*"] in apiGroups ["*"]) to ServiceAccount ci/deployer'
            + WILDCARD_FIX,
            f"urn:pulumi:production::azora::{TOKEN}ClusterRoleBinding::ci-deployer",
        )
    ]
    assert BY_NAME["rbac-no-cluster-admin-binding"].enforcement == "mandatory"


def test_crossguard_passes_the_embedded_prometheus_rbac() -> None:
    rbac_objects = [r for r in _local_rbac() if r.type.startswith(TOKEN)]
    reports: list[str] = []
    for policy in sdk_policies():
        if policy.name in RBAC_RULES:
            policy.validate(_stack_args(rbac_objects), lambda message, urn=None: reports.append(message))
    assert reports == []


# --------------------------------------------------------------------------------------
# `azora policy check` on a manifest file.
# --------------------------------------------------------------------------------------

CLUSTER_ADMIN_YAML = textwrap.dedent(
    """\
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata:
      name: ci-deployer
    roleRef:
      apiGroup: rbac.authorization.k8s.io
      kind: ClusterRole
      name: cluster-admin
    subjects:
      - kind: ServiceAccount
        name: deployer
        namespace: ci
    """
)
CLI_MESSAGE = (
    "ClusterRoleBinding ci-deployer binds ClusterRole cluster-admin (the built-in role grants verbs "
    '["*"] on resources ["*"] in apiGroups ["*"]) to ServiceAccount ci/deployer' + WILDCARD_FIX
)


def test_policy_check_fails_a_cluster_admin_binding(tmp_path: Path) -> None:
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(CLUSTER_ADMIN_YAML)
    human = CliRunner().invoke(app, ["policy", "check", str(manifest)])
    assert human.exit_code == 1, human.output
    assert human.stdout.splitlines() == [
        f"mandatory rbac-no-cluster-admin-binding  ClusterRoleBinding/-/ci-deployer: {CLI_MESSAGE}",
        "1 resources, 1 mandatory and 0 advisory violations",
    ]
    as_json = CliRunner().invoke(app, ["policy", "check", "--json", str(manifest)])
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert (document["violations"], document["resources"]) == (
        [
            {
                "policy": "rbac-no-cluster-admin-binding",
                "enforcement": "mandatory",
                "resource": "ClusterRoleBinding/-/ci-deployer",
                "message": CLI_MESSAGE,
            }
        ],
        1,
    )


def test_policy_check_console_script_on_rbac(tmp_path: Path) -> None:
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(CLUSTER_ADMIN_YAML)
    bad = subprocess.run([str(AZORA), "policy", "check", str(manifest)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stderr
    assert CLI_MESSAGE in bad.stdout
    # The same binding to the read-only built-in passes.
    manifest.write_text(CLUSTER_ADMIN_YAML.replace("name: cluster-admin", "name: view"))
    good = subprocess.run([str(AZORA), "policy", "check", str(manifest)], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip() == "1 resources, 0 mandatory and 0 advisory violations"
