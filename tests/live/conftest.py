"""Live fixtures: one embedded cluster per test session (started and stopped here, with a
time limit), and scratch copies of the local stack that target it, each in its own namespace.

The commands run as users run them: the `azora` console script with AZORA_PROJECT_DIR and
PULUMI_BACKEND_URL pointing at the scratch project, the real engine, the policy pack and the
kubernetes provider talking to the real API server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azora.cluster import processes
from azora.cluster.api import Api
from azora.cluster.components import COMPONENTS
from azora.cluster.layout import Layout
from azora.cluster.lifecycle import api_for, down, up
from azora.engine import ScratchStack
from azora.toolchain import CLUSTER_GROUP, PULUMI_GROUP, Toolchain
from tests.conftest import required_toolchain

AZORA = Path(sys.executable).parent / "azora"
# The session's cluster stops itself after this long even if pytest dies.
CLUSTER_LIFETIME_SECONDS = 2400


@pytest.fixture(scope="session")
def live_toolchain() -> Toolchain:
    return required_toolchain((PULUMI_GROUP, CLUSTER_GROUP), "azora tools install --with cluster")


@pytest.fixture(scope="session")
def live_cluster(live_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    layout = Layout(tmp_path_factory.mktemp("live-cluster"))
    up(layout, live_toolchain.bin_dir, lifetime=CLUSTER_LIFETIME_SECONDS)
    records = [processes.read(layout.record(c.name)) for c in COMPONENTS]
    try:
        yield layout
    finally:
        down(layout, purge=True)
        left = [r.pid for r in records if r is not None and processes.is_running(r)]
        assert left == [], f"cluster processes still running after down: {left}"


class LiveProject:
    """A scratch copy of the local stack in namespace `namespace` of the live cluster."""

    def __init__(self, scratch: ScratchStack, layout: Layout, namespace: str):
        self.scratch = scratch
        self.layout = layout
        self.namespace = namespace
        self.api: Api = api_for(layout)
        self.env = {
            **os.environ,
            "AZORA_PROJECT_DIR": str(scratch.project_dir),
            "PULUMI_BACKEND_URL": f"file://{scratch.backend_dir}",
            "PULUMI_CONFIG_PASSPHRASE": "scratch",
            "COLUMNS": "250",
        }

    @property
    def checkpoint(self) -> Path:
        return self.scratch.backend_dir / ".pulumi" / "stacks" / "azora-platform" / "local.json"

    def command(self, *args: str) -> list[str]:
        return [str(AZORA), *args]

    def azora(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, env=self.env, check=False
        )
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    def ns_path(self, group_version: str, plural: str, name: str = "") -> str:
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        return f"{prefix}/namespaces/{self.namespace}/{plural}" + (f"/{name}" if name else "")

    def items(self, group_version: str, plural: str, **params: str) -> list[dict[str, Any]]:
        found = self.api.get(self.ns_path(group_version, plural), params=params)
        assert found is not None
        return found["items"]

    def deployment(self, name: str) -> dict[str, Any]:
        found = self.api.get(self.ns_path("apps/v1", "deployments", name))
        assert found is not None, f"no Deployment {name} in {self.namespace}"
        return found

    def selector(self, service: str) -> dict[str, str]:
        found = self.api.get(self.ns_path("v1", "services", service))
        assert found is not None, f"no Service {service} in {self.namespace}"
        return found["spec"]["selector"]

    def ready_pods(self, service: str) -> list[str]:
        """Names of the pods behind the Service's ready EndpointSlice endpoints."""
        slices = self.items(
            "discovery.k8s.io/v1", "endpointslices", labelSelector=f"kubernetes.io/service-name={service}"
        )
        return sorted(
            endpoint["targetRef"]["name"]
            for piece in slices
            for endpoint in piece.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready")
        )

    def pod_colors(self, names: list[str]) -> set[str]:
        colors = set()
        for name in names:
            pod = self.api.get(self.ns_path("v1", "pods", name))
            assert pod is not None
            colors.add(pod["metadata"]["labels"]["azora.io/color"])
        return colors

    def services_config(self) -> dict[str, Any]:
        """What a person wrote about the services and what the release workflow recorded."""
        config = self.scratch.azora_config()
        return {"services": config["services"], "status": config.get("status", {})}


def make_project(toolchain: Toolchain, layout: Layout, namespace: str) -> LiveProject:
    def target(azora: dict[str, Any]) -> None:
        azora["kubeconfig"] = str(layout.kubeconfig)
        azora["namespace"] = namespace

    return LiveProject(ScratchStack("local", toolchain, edit=target), layout, namespace)


@pytest.fixture
def fresh_project(
    live_toolchain: Toolchain, live_cluster: Layout, request: pytest.FixtureRequest
) -> Iterator[LiveProject]:
    """A local stack nothing has been applied to yet, in a namespace of its own."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    project = make_project(live_toolchain, live_cluster, f"live-{name}")
    try:
        yield project
    finally:
        project.scratch.close()
