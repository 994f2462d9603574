"""Faults on the live cluster: a `pulumi up` killed with SIGKILL mid-update and the documented
recovery (`azora up`). A release the API server refuses is tried on the shared stack of
test_local_stack.py (it must change nothing, so it needs no stack of its own)."""

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

# The resources a clean `up` of the local stack with only payment makes (67 with all six services).
ONE_SERVICE_RESOURCES = 30


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
    assert len(urns) == ONE_SERVICE_RESOURCES  # what a clean `up` of the one-service stack makes
    assert not list(project.scratch.backend_dir.glob(".pulumi/locks/*/azora-platform/local/*.json"))
    deployments = project.items("apps/v1", "deployments")
    assert sorted(d["metadata"]["name"] for d in deployments) == ["payment-blue", "payment-green"]
    for deployment in deployments:
        conditions = {c["type"]: c["status"] for c in deployment["status"].get("conditions") or []}
        assert conditions.get("Available") == "True", deployment["metadata"]["name"]
    assert sorted(s["metadata"]["name"] for s in project.items("v1", "services")) == ["payment", "payment-preview"]
    preview = project.azora("preview", "--stack", "local", "--refresh", "--expect-no-changes")
    assert preview.returncode == 0, preview.stdout + preview.stderr
