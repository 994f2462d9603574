"""The release workflow through the `azora` command, on the real engine in render mode.

A scratch copy of the staging stack (own project directory, `file://` backend and passphrase)
stands in for the real one; the commands find it through AZORA_PROJECT_DIR and
PULUMI_BACKEND_URL, exactly as they would find a user's project and backend.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from azora.engine import ScratchStack
from azora.standin.server import run_standin
from azora.toolchain import Toolchain

pytestmark = pytest.mark.integration

AZORA = Path(sys.executable).parent / "azora"


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


class Project:
    def __init__(self, scratch: ScratchStack, manifests: Path):
        self.scratch = scratch
        self.manifests = manifests
        self.env = scratch.cli_env(COLUMNS="250")

    def azora(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(AZORA), *args], capture_output=True, text=True, timeout=600, env=self.env, check=False
        )
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    def history(self) -> list[dict[str, Any]]:
        done = self.azora("history", "--stack", "staging", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def rendered(self) -> dict[str, Any]:
        return {
            str(path.relative_to(self.manifests)): yaml.safe_load(path.read_text())
            for path in sorted(self.manifests.rglob("*.yaml"))
        }

    def active_selector(self, service: str) -> str:
        document = self.rendered()[f"1-manifest/v1-service-azora-staging-{service}.yaml"]
        return document["spec"]["selector"]["azora.io/color"]


@pytest.fixture(scope="module")
def released(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Path]]:
    """The scratch stack after its first update (`release v1`), and a copy of its files (project,
    file backend, rendered manifests) taken then. Each test starts from that copy: the first
    update is made once, not once a test."""
    base = tmp_path_factory.mktemp("release")
    manifests = base / "manifests"

    def edit(azora: dict[str, Any]) -> None:
        azora["renderDir"] = str(manifests)
        azora["skipCharts"] = True

    (base / "scratch").mkdir()
    with ScratchStack("staging", toolchain, edit=edit, root=base / "scratch") as scratch:
        project = Project(scratch, manifests)
        first = project.azora("up", "--stack", "staging", "--yes", "--message", "release v1")
        assert first.returncode == 0, first.stderr
        snapshot = base / "after-release-v1"
        shutil.copytree(scratch.root, snapshot / "scratch", symlinks=True)
        shutil.copytree(manifests, snapshot / "manifests", symlinks=True)
        yield project, snapshot


@pytest.fixture
def project(released: tuple[Project, Path]) -> Project:
    """The stack as its first update left it, whatever the test before did to it."""
    project, snapshot = released
    for path, saved in ((project.scratch.root, snapshot / "scratch"), (project.manifests, snapshot / "manifests")):
        shutil.rmtree(path)
        shutil.copytree(saved, path, symlinks=True)
    return project


def test_deploy_promote_then_rollback_restores_the_first_release(project: Project) -> None:
    v1_config = project.scratch.azora_config()["services"]
    v1_manifests = project.rendered()

    before_deploy = project.scratch.stack_file.read_text()
    deployed = project.azora(
        "deploy", "--stack", "staging", "--service", "payment", "--version", "2.1.0", "--yes", "--no-smoke"
    )
    assert deployed.returncode == 0, deployed.stderr
    assert "payment 2.1.0 runs on green" in deployed.stdout
    assert changed_lines(before_deploy, project.scratch.stack_file.read_text()) == [
        '-      versions: {blue: "2.0.4", green: "2.0.4"}',
        '+      versions: {blue: "2.0.4", green: "2.1.0"}',
        "-    payment: {activeColor: blue}",
        "+    payment: {activeColor: blue, idleScaledUp: true}",
    ]
    before_promote = project.scratch.stack_file.read_text()
    # The metric gates are tried on the real node (tests/live/test_gates.py); this cluster's pods serve nothing.
    promoted = project.azora(
        "promote", "--stack", "staging", "--service", "payment", "--yes", "--no-smoke", "--skip-analysis", "--json"
    )
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["result"] == "promoted"
    assert project.active_selector("payment") == "green"
    diff = changed_lines(before_promote, project.scratch.stack_file.read_text())
    assert diff[0] == "-    payment: {activeColor: blue, idleScaledUp: true}"
    assert diff[1].startswith("+    payment: {activeColor: green, idleScaledUp: true, promotedAt: '20")
    assert len(diff) == 2
    print("\n".join(["promote's stack-file diff:", *diff]))

    planned = project.azora("rollback", "--stack", "staging", "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert (plan["toVersion"], plan["dryRun"]) == (1, True)
    assert {c["key"]: c["after"] for c in plan["changes"]} == {
        "azora:services.payment.versions.green": "2.0.4",
        "azora:status.payment.activeColor": "blue",
        "azora:status.payment.idleScaledUp": "(unset)",
        "azora:status.payment.promotedAt": "(unset)",
    }
    assert project.active_selector("payment") == "green"  # a dry run changes nothing
    assert len(project.history()) == 3

    rolled = project.azora("rollback", "--stack", "staging", "--yes")
    assert rolled.returncode == 0, rolled.stderr
    assert "rollback staging to update 1 (release v1)" in rolled.stdout
    assert "azora:status.payment.activeColor: green -> blue" in rolled.stdout
    # The counts come from the update's own summary event (the stack is not read back after it).
    assert re.search(r"✓ rolled back: \d+ update", rolled.stdout), rolled.stdout
    assert project.scratch.stack_file.read_text() == before_deploy
    assert project.scratch.azora_config()["services"] == v1_config
    assert project.rendered() == v1_manifests

    history = project.history()
    assert [row["message"] for row in history] == [
        "azora rollback to update 1",
        "azora promote payment to green",
        "azora deploy payment 2.1.0 to green (preview)",
        "release v1",
    ]
    assert [row["version"] for row in history] == [4, 3, 2, 1]
    assert history[1]["services"]["payment"] == {
        "activeColor": "green",
        "versions": {"blue": "2.0.4", "green": "2.1.0"},
        "verified": False,  # promoted with --skip-analysis: no gate verified it
        "verifiedAt": None,
    }
    assert [row["verified"] for row in history] == [[], [], [], []]
    assert history[0]["services"]["payment"]["activeColor"] == "blue"
    table = project.azora("history", "--stack", "staging")
    assert table.returncode == 0 and "azora rollback to update 1" in table.stdout


def test_promote_switches_back_when_the_post_promotion_smoke_fails(project: Project) -> None:
    deployed = project.azora(
        "deploy", "--stack", "staging", "--service", "payment", "--version", "2.1.0", "--yes", "--no-smoke"
    )
    assert deployed.returncode == 0, deployed.stderr
    with run_standin(unhealthy={"payment"}, lifetime=600) as standin:
        promoted = project.azora(
            "promote",
            "--stack",
            "staging",
            "--service",
            "payment",
            "--yes",
            "--skip-analysis",
            "--base-url",
            standin.base_url,
        )
        assert standin.health_hits("payment") >= 1
    assert promoted.returncode == 3  # switched back cleanly: its own exit code
    assert "payment: the post-promotion check failed; switched back to blue" in promoted.stderr
    assert project.active_selector("payment") == "blue"
    history = project.history()
    assert history[0]["message"].startswith("azora promote payment: switched back to blue")
    assert history[1]["message"] == "azora promote payment to green"


def test_rollback_refuses_an_update_that_does_not_exist(project: Project) -> None:
    refused = project.azora("rollback", "--stack", "staging", "--to-version", "7", "--yes")
    assert refused.returncode == 2
    assert "has no update 7 (updates: 1)" in refused.stderr


def test_a_rollback_whose_update_fails_leaves_the_stack_file_as_it_was(project: Project) -> None:
    v1_config = project.scratch.azora_config()["services"]
    deployed = project.azora(
        "deploy", "--stack", "staging", "--service", "payment", "--version", "2.1.0", "--yes", "--no-smoke"
    )
    assert deployed.returncode == 0, deployed.stderr
    before = project.scratch.stack_file.read_text()
    # The provider writes rendered manifests under renderDir/1-manifest: a file in its place
    # makes the rollback's update fail after its config was restored.
    rendered = project.manifests / "1-manifest"
    for path in rendered.iterdir():
        path.unlink()
    rendered.rmdir()
    rendered.write_text("not a directory\n")

    failed = project.azora("rollback", "--stack", "staging", "--yes")
    assert failed.returncode == 1
    assert "the update of staging failed (azora rollback to update 1)" in failed.stderr
    assert "Pulumi.staging.yaml is unchanged" in failed.stderr
    assert project.scratch.stack_file.read_text() == before

    # Fixed, a retry plans the same target instead of going one release further back.
    rendered.unlink()
    retried = project.azora("rollback", "--stack", "staging", "--yes")
    assert retried.returncode == 0, retried.stderr
    assert "rollback staging to update 1 (release v1)" in retried.stdout
    assert project.scratch.azora_config()["services"] == v1_config


def test_azora_up_repairs_a_metadata_file_a_killed_update_cut_short(project: Project) -> None:
    state = project.scratch.backend_dir / ".pulumi"
    sidecar = state / "stacks" / "azora-platform" / "staging.json.attrs"
    assert json.loads(sidecar.read_text())  # the engine wrote one with the checkpoint
    # What a `pulumi up` killed between the checkpoint's rename and its sidecar's write leaves.
    sidecar.write_text("")

    refused = project.azora("history", "--stack", "staging")
    assert refused.returncode == 1
    assert "failed to load checkpoint: EOF" in refused.stderr
    assert "1 metadata file(s) of the stack were cut short by an interrupted update" in refused.stderr
    assert "`azora up --stack staging` removes them" in refused.stderr

    recovered = project.azora("up", "--stack", "staging", "--yes")
    assert recovered.returncode == 0, recovered.stderr
    assert (
        "recovered: removed .pulumi/stacks/azora-platform/staging.json.attrs, a metadata file an "
        "interrupted update cut short" in " ".join(recovered.stderr.split())
    )
    # The checkpoint itself was whole: the stack reads as it was, with nothing to change.
    assert "staging: no changes" in recovered.stdout
    assert not sidecar.exists()
    assert [row["message"] for row in project.history()] == ["release v1"]


def test_a_rollback_across_the_status_change_restores_a_release_recorded_in_the_old_layout(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    """A history made before `azora:status`: the first update runs a stack file that keeps
    activeColor under each service (green for payment). Today's release steps move the state
    to `azora:status`; rolling back to that first update restores its colours and versions."""
    manifests = tmp_path / "manifests"

    def old_layout(azora: dict[str, Any]) -> None:
        azora["renderDir"] = str(manifests)
        azora["skipCharts"] = True
        for name, status in azora.pop("status").items():
            azora["services"][name].update(status)
        azora["services"]["payment"]["activeColor"] = "green"

    with ScratchStack("staging", toolchain, edit=old_layout) as scratch:
        project = Project(scratch, manifests)
        assert "activeColor" in scratch.azora_config()["services"]["payment"]
        assert project.azora("up", "--stack", "staging", "--yes", "--message", "old layout").returncode == 0
        assert project.active_selector("payment") == "green"

        deployed = project.azora(
            "deploy", "--stack", "staging", "--service", "payment", "--version", "2.1.0", "--yes", "--no-smoke"
        )
        assert deployed.returncode == 0, deployed.stderr
        assert "activeColor" not in scratch.azora_config()["services"]["payment"]  # moved to azora:status
        assert scratch.azora_config()["status"]["payment"]["activeColor"] == "green"
        assert (
            project.azora(
                "promote", "--stack", "staging", "--service", "payment", "--yes", "--no-smoke", "--skip-analysis"
            ).returncode
            == 0
        )
        assert project.active_selector("payment") == "blue"

        rolled = project.azora("rollback", "--stack", "staging", "--to-version", "1", "--yes")
        assert rolled.returncode == 0, rolled.stderr
        assert project.active_selector("payment") == "green"
        restored = scratch.azora_config()
        assert restored["status"]["payment"] == {"activeColor": "green"}
        assert restored["services"]["payment"]["versions"] == {"blue": "2.0.4", "green": "2.0.4"}
        assert project.history()[0]["services"]["payment"]["activeColor"] == "green"
