"""Live fixtures: one embedded cluster per test session (started and stopped here, with a
time limit), and scratch copies of the local stack that target it, each in its own namespace.

The commands run as users run them: the `azora` console script with AZORA_PROJECT_DIR and
PULUMI_BACKEND_URL pointing at the scratch project, the real engine, the policy pack and the
kubernetes provider talking to the real API server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from azora.cluster import network, processes
from azora.cluster.api import Api
from azora.cluster.components import COMPONENTS
from azora.cluster.layout import Layout
from azora.cluster.lifecycle import api_for, clear_stale_node, down, up
from azora.engine import ScratchStack
from azora.toolchain import CLUSTER_GROUP, PULUMI_GROUP, Toolchain
from tests.conftest import required_toolchain

AZORA = Path(sys.executable).parent / "azora"


def wait_for(condition: Callable[[], bool], seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _lines(*argv: str) -> list[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)
    return sorted(line for line in done.stdout.splitlines() if line.strip())


def host_state() -> dict[str, Any]:
    """What a real node may change on this machine, to compare before and after: sysctls,
    network interfaces, routes, iptables rules of both families, mounts, cgroups,
    containerd's shim directory and the node record."""
    return {
        "sysctls": {name: network.read_sysctl(name) for name in network.SYSCTLS},
        "links": sorted(link["ifname"] for link in json.loads(subprocess.check_output(["ip", "-j", "link"]))),
        "routes": _lines("ip", "route", "show", "table", "all"),
        "iptables": {
            binary: {table: _lines(binary, "-w", "-t", table, "-S") for table in network.TABLES}
            for binary in network.IPTABLES
        },
        "mounts": sorted(part.mountpoint for part in psutil.disk_partitions(all=True)),
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/azora")),
        "run_containerd": Path("/run/containerd").exists(),
        "node_record": network.HOST_RECORD.exists(),
    }


# The session's cluster stops itself after this long even if pytest dies.
CLUSTER_LIFETIME_SECONDS = 2400


@pytest.fixture(scope="session")
def live_toolchain() -> Toolchain:
    return required_toolchain((PULUMI_GROUP, CLUSTER_GROUP), "azora tools install --with cluster")


@pytest.fixture(scope="session")
def live_cluster(live_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    layout = Layout(tmp_path_factory.mktemp("live-cluster"))
    # A run killed with its session (its supervisor too) leaves its node behind: clear it.
    clear_stale_node(None, live_toolchain.bin_dir, print)
    before = host_state()
    holder = network.read_record()
    assert holder is None, (
        f"the real node of the cluster in {holder['owner']} holds this machine; the live tests start their "
        f"own: stop it first (azora cluster down --dir {holder['owner']})"
    )
    up(layout, live_toolchain.bin_dir, lifetime=CLUSTER_LIFETIME_SECONDS)
    records = [processes.read(layout.record(c.name)) for c in COMPONENTS]
    try:
        yield layout
    finally:
        down(layout, purge=True)
        left = [r.pid for r in records if r is not None and processes.is_running(r)]
        assert left == [], f"cluster processes still running after down: {left}"
        assert host_state() == before, "the session's cluster left something on this machine"


class LiveProject:
    """A scratch copy of the local stack in namespace `namespace` of the live cluster."""

    def __init__(self, scratch: ScratchStack, layout: Layout, namespace: str):
        self.scratch = scratch
        self.layout = layout
        self.namespace = namespace
        self.api: Api = api_for(layout)
        self.env = scratch.cli_env(COLUMNS="250")

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

    def service_url(self, service: str, path: str = "/") -> str:
        """The Service's ClusterIP URL, which this host reaches through kube-proxy."""
        found = self.api.get(self.ns_path("v1", "services", service))
        assert found is not None, f"no Service {service} in {self.namespace}"
        return f"http://{found['spec']['clusterIP']}:{found['spec']['ports'][0]['port']}{path}"

    def service_url_in(self, namespace: str, service: str, path: str = "") -> str:
        """Another namespace's Service (the monitoring namespace's Prometheus) by its ClusterIP."""
        found = self.api.get(f"/api/v1/namespaces/{namespace}/services/{service}")
        assert found is not None, f"no Service {service} in {namespace}"
        return f"http://{found['spec']['clusterIP']}:{found['spec']['ports'][0]['port']}{path}"

    def pod_colors(self, names: list[str]) -> set[str]:
        colors = set()
        for name in names:
            pod = self.api.get(self.ns_path("v1", "pods", name))
            assert pod is not None
            colors.add(pod["metadata"]["labels"]["azora.io/color"])
        return colors

    def close(self) -> None:
        """Drop the scratch project and its namespaces (its pods run real containers)."""
        self.scratch.close()
        for namespace in (self.namespace, f"{self.namespace}-monitoring"):
            self.api.request("DELETE", f"/api/v1/namespaces/{namespace}")

    def services_config(self) -> dict[str, Any]:
        """What a person wrote about the services and what the release workflow recorded."""
        config = self.scratch.azora_config()
        return {"services": config["services"], "status": config.get("status", {})}


def make_project(
    toolchain: Toolchain, layout: Layout, namespace: str, services: tuple[str, ...] | None = None
) -> LiveProject:
    """A scratch copy of the local stack in `namespace`; with `services`, only those services
    (and the platform around them: namespaces, policies, monitoring)."""

    def target(azora: dict[str, Any]) -> None:
        azora["kubeconfig"] = str(layout.kubeconfig)
        azora["namespace"] = namespace
        if services is not None:
            azora["services"] = {name: azora["services"][name] for name in services}
            azora["status"] = {name: azora["status"][name] for name in services}

    return LiveProject(ScratchStack("local", toolchain, edit=target), layout, namespace)


@pytest.fixture
def fresh_project(
    live_toolchain: Toolchain, live_cluster: Layout, request: pytest.FixtureRequest
) -> Iterator[LiveProject]:
    """A local stack of one service (payment) nothing has been applied to yet, in a namespace of
    its own."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    project = make_project(live_toolchain, live_cluster, f"live-{name}", services=("payment",))
    try:
        yield project
    finally:
        project.close()
