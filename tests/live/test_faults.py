"""Faults on the live cluster: a `pulumi up` killed with SIGKILL mid-update and the documented
recovery (`azora up`), and a release the API server refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from azora.cluster import processes
from tests.live.conftest import LiveProject

pytestmark = pytest.mark.live


def _descendants(root: int) -> list[int]:
    """`root` and every process below it (by parent pid), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _latest(checkpoint: Path) -> dict[str, Any]:
    try:
        return (json.loads(checkpoint.read_text()).get("checkpoint") or {}).get("latest") or {}
    except (OSError, ValueError):
        return {}


def test_sigkill_mid_update_then_azora_up_recovers(fresh_project: LiveProject) -> None:
    project = fresh_project
    update = subprocess.Popen(
        project.command("up", "--stack", "local", "--yes"),
        env=project.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and update.poll() is None:
            latest = _latest(project.checkpoint)
            pending = [
                op
                for op in latest.get("pending_operations") or []
                if op["type"] == "creating" and op["resource"]["type"] == "kubernetes:apps/v1:Deployment"
            ]
            # Kill while a Deployment the API server already has is still a pending create:
            # the state does not know it exists, the cluster does.
            made = [
                op
                for op in pending
                if project.api.get(
                    project.ns_path("apps/v1", "deployments", op["resource"]["inputs"]["metadata"]["name"])
                )
            ]
            if made:
                killed = _descendants(update.pid)  # azora, pulumi, the language host, the provider
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        update.wait(timeout=60)
    assert killed, "the update finished before a Deployment was pending; nothing was interrupted"
    assert len(killed) >= 4, killed
    time.sleep(0.5)
    assert [pid for pid in killed if processes.running_start_time(pid) is not None] == []
    interrupted = _latest(project.checkpoint)
    assert interrupted["pending_operations"], "the kill left no pending operation"
    locks = list(project.scratch.backend_dir.glob(".pulumi/locks/*/azora-platform/local/*.json"))
    assert len(locks) == 1

    recovered = project.azora("up", "--stack", "local", "--yes")
    assert recovered.returncode == 0, recovered.stderr
    assert "recovered: cleared the stale lock of an interrupted update" in recovered.stderr
    adopted = [line for line in recovered.stderr.splitlines() if line.startswith("recovered: adopted ")]
    assert adopted, recovered.stderr

    latest = _latest(project.checkpoint)
    assert latest.get("pending_operations") in (None, [])
    urns = Counter(resource["urn"] for resource in latest["resources"])
    assert [urn for urn, n in urns.items() if n > 1] == []
    assert len(urns) == 67  # what a clean `up` of the local stack makes (see test_local_stack)
    assert not list(project.scratch.backend_dir.glob(".pulumi/locks/*/azora-platform/local/*.json"))
    deployments = project.items("apps/v1", "deployments")
    assert len(deployments) == 12
    for deployment in deployments:
        conditions = {c["type"]: c["status"] for c in deployment["status"].get("conditions") or []}
        assert conditions.get("Available") == "True", deployment["metadata"]["name"]
    assert len(project.items("v1", "services")) == 12
    preview = project.azora("preview", "--stack", "local", "--refresh", "--expect-no-changes")
    assert preview.returncode == 0, preview.stdout + preview.stderr


POLICY = "azora-live-release-versions"


def _admission_policy(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cluster rule the stack config cannot know: no pre-release version label on Deployments."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["deployments"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!object.metadata.labels['app.kubernetes.io/version'].contains('-rc')",
                    "message": "release candidates are not admitted in this namespace",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY},
        "spec": {
            "policyName": POLICY,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }
    return policy, binding


def test_a_release_the_api_server_refuses_changes_nothing(fresh_project: LiveProject) -> None:
    project = fresh_project
    assert project.azora("up", "--stack", "local", "--yes").returncode == 0
    policy, binding = _admission_policy(project.namespace)
    base = "/apis/admissionregistration.k8s.io/v1"
    project.api.create(f"{base}/validatingadmissionpolicies", policy)
    try:
        project.api.create(f"{base}/validatingadmissionpolicybindings", binding)
        time.sleep(2)  # the API server loads new admission policies asynchronously
        services_before = project.services_config()
        green_before = project.deployment("payment-green")
        updates_before = len(json.loads(project.azora("history", "--stack", "local", "--json").stdout))

        refused = project.azora(
            "deploy", "--stack", "local", "--service", "payment", "--version", "2.2.0-rc.1", "--yes", "--no-smoke"
        )
        assert refused.returncode == 1
        message = " ".join(refused.stderr.split())
        assert "the update of local failed (azora deploy payment 2.2.0-rc.1 to green (preview))" in message
        assert "payment-green" in message
        assert "release candidates are not admitted in this namespace" in message
        assert "Pulumi.local.yaml is unchanged" in message

        assert project.services_config() == services_before
        green = project.deployment("payment-green")
        assert green["metadata"]["generation"] == green_before["metadata"]["generation"]
        assert green["spec"]["replicas"] == 0
        assert green["metadata"]["labels"]["app.kubernetes.io/version"] == "2.0.4"
        assert project.selector("payment")["azora.io/color"] == "blue"
        history = json.loads(project.azora("history", "--stack", "local", "--json").stdout)
        assert len(history) == updates_before + 1 and history[0]["result"] == "failed"
        preview = project.azora("preview", "--stack", "local", "--refresh", "--expect-no-changes")
        assert preview.returncode == 0, preview.stdout + preview.stderr
    finally:
        for plural in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
            project.api.request("DELETE", f"{base}/{plural}/{POLICY}")
