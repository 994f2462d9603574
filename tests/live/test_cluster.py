"""`azora cluster up | status | env | down` on clusters of these tests' own.

The simulated node: idempotent `up`, a crashed component restarted by the supervisor, data
kept across `down`/`up`, nothing left running after `down`, nothing on disk after `--purge`.
The real node: its routes while it runs, and the machine exactly as before after `down`, and
after a kill -9 of every process (containers included), once the node it left is cleared (what
the next `up` does first) and after `down --purge`.

These tests run first (this file sorts first in tests/live): a real node holds the machine
(its bridge, address and kube-proxy's chains), so the session's shared cluster, which has one,
starts only after them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

import psutil
import pytest

from azora.cluster import network, processes, sandboxes
from azora.cluster.components import components_for
from azora.cluster.layout import BRIDGE, POD_CIDR, POD_SUBNET, REAL, SERVICE_CIDR, SIMULATED, Layout, port_in_use
from azora.cluster.lifecycle import WATCHDOG, api_for, clear_stale_node
from azora.cluster.node import NodePaths
from azora.toolchain import Toolchain
from tests.live.conftest import AZORA, host_state, wait_for

pytestmark = pytest.mark.live

NAMES = [c.name for c in components_for(SIMULATED)]
REAL_NAMES = [c.name for c in components_for(REAL)]


def _cluster(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(AZORA), "cluster", *args, "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _states(directory: Path) -> dict[str, str]:
    done = _cluster(directory, "status")
    states = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) >= 2 and cells[0] in NAMES + REAL_NAMES:
            states[cells[0]] = cells[1]
    return states


PAUSE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "sleeper"},
    "spec": {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "sleeper", "image": "azora.local/pause:3.10", "imagePullPolicy": "Never"}],
    },
}


def _pod_phase(layout: Layout) -> str | None:
    pod = api_for(layout).get("/api/v1/namespaces/default/pods/sleeper")
    return None if pod is None else pod.get("status", {}).get("phase")


def test_real_node_leaves_the_machine_as_it_found_it(live_toolchain: Toolchain, tmp_path: Path) -> None:
    before = host_state()
    directory = tmp_path / "real"
    layout = Layout(directory)
    container_pids: set[int] = set()
    try:
        first = _cluster(directory, "up", "--lifetime", "600")
        assert first.returncode == 0, first.stderr
        assert f"started {', '.join(REAL_NAMES)}" in first.stderr
        assert _states(directory) == dict.fromkeys(REAL_NAMES, "running")
        # Nothing addressed to the cluster can follow the default route off the machine.
        assert network.routes() == {
            SERVICE_CIDR: f"unicast dev {BRIDGE}",
            POD_SUBNET: f"unicast dev {BRIDGE}",
            POD_CIDR: "blackhole",
        }
        assert network.GUARD_CHAIN in network.chains("iptables", "filter")
        # A running cluster's node is never taken for one left behind.
        assert clear_stale_node(None, live_toolchain.bin_dir) is None
        assert network.read_record()["owner"] == str(directory)
        node = api_for(layout).get("/api/v1/nodes/azora-node-0")
        assert node is not None and "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")

        api_for(layout).create("/api/v1/namespaces/default/pods", PAUSE_POD)
        assert wait_for(lambda: _pod_phase(layout) == "Running", 60), _pod_phase(layout)
        paths = NodePaths(layout)
        assert sandboxes.mounts_under(directory), "a running pod mounts its root filesystem and network namespace"
        assert sandboxes.cgroup_pids(), "the pod's processes run in the node's cgroups"

        # down: the machine as before, the cluster's data kept.
        stopped = _cluster(directory, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert host_state() == before
        assert (paths.containerd_root).is_dir()

        # up again: the pod comes back (kubelet makes its sandbox anew).
        back = _cluster(directory, "up", "--lifetime", "600")
        assert back.returncode == 0, back.stderr
        assert wait_for(lambda: _pod_phase(layout) == "Running", 60)
        assert wait_for(lambda: bool(sandboxes.container_ids(paths)) and bool(sandboxes.cgroup_pids()), 30)

        # kill -9 of everything this cluster started, the supervisor first so nothing comes back;
        # the containers and their shims live on.
        names = [WATCHDOG, *REAL_NAMES]
        records = [r for name in names if (r := processes.read(layout.record(name))) is not None]
        assert len(records) == len(names)
        container_pids = sandboxes.cgroup_pids()
        for record in records:
            os.kill(record.pid, signal.SIGKILL)
        assert wait_for(lambda: not any(processes.is_running(r) for r in records), 10)
        assert any(psutil_exists(pid) for pid in container_pids), "containers outlive a kill -9 of the node"

        # What the next `up` elsewhere does first: the node left behind is cleared like a `down`.
        lines: list[str] = []
        assert clear_stale_node(None, live_toolchain.bin_dir, lines.append) == str(directory)
        assert f"the real node of the cluster in {directory} was left on this machine" in lines[0]
        assert not any(psutil_exists(pid) for pid in container_pids)
        assert host_state() == before

        # Its records deleted while it runs (a /tmp cleaner): the node record's copies still
        # name every process, and `down` stops them and the pod by their ids.
        again = _cluster(directory, "up", "--lifetime", "600")
        assert again.returncode == 0, again.stderr
        assert wait_for(lambda: _pod_phase(layout) == "Running", 60)
        assert wait_for(lambda: bool(sandboxes.cgroup_pids()), 30)
        records = [r for name in names if (r := processes.read(layout.record(name))) is not None]
        container_pids = sandboxes.cgroup_pids()
        shutil.rmtree(layout.run)
        cleared = _cluster(directory, "down")
        assert cleared.returncode == 0, cleared.stderr
        assert "which only the machine's node record still named" in cleared.stderr
        assert not any(processes.is_running(r) for r in records)
        assert not any(psutil_exists(pid) for pid in container_pids)
        assert host_state() == before
    finally:
        purged = _cluster(directory, "down", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not directory.exists()
    assert not any(psutil_exists(pid) for pid in container_pids)
    assert host_state() == before


def test_a_failed_real_node_up_names_the_port_and_leaves_the_machine_as_it_was(
    live_toolchain: Toolchain, tmp_path: Path
) -> None:
    before = host_state()
    directory = tmp_path / "real"
    layout = Layout(directory)
    ports = layout.create(REAL)
    with socket.socket() as squatter:  # kubelet's health port, taken once containerd already runs
        squatter.bind(("127.0.0.1", ports.kubelet_healthz))
        squatter.listen()
        done = _cluster(directory, "up", "--timeout", "60")
    message = " ".join(done.stderr.split())
    assert done.returncode == 1
    assert f"port {ports.kubelet_healthz} on 127.0.0.1 (for kubelet) is taken by a process this cluster did not" in (
        message
    )
    assert "(stopped what this attempt started: containerd, kube-scheduler, kube-controller-manager," in message
    assert not any(layout.run.glob("*.json"))
    assert host_state() == before  # the bridge, routes, chains and sysctls it had made are undone
    _cluster(directory, "down", "--purge")


def psutil_exists(pid: int) -> bool:
    return processes.running_start_time(pid) is not None


def test_simulated_cluster_lifecycle(live_toolchain: Toolchain, tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    layout = Layout(directory)
    try:
        first = _cluster(directory, "up", "--node", "simulated", "--lifetime", "900")
        assert first.returncode == 0, first.stderr
        assert f"started {', '.join(NAMES)}" in first.stderr
        assert stat.S_IMODE(layout.kubeconfig.stat().st_mode) == 0o600
        assert _states(directory) == dict.fromkeys(NAMES, "running")
        assert _cluster(directory, "env").stdout.strip() == f"export KUBECONFIG={layout.kubeconfig}"

        again = _cluster(directory, "up")
        assert again.returncode == 0 and "(already running)" in again.stderr
        records = {name: processes.read(layout.record(name)) for name in NAMES}
        assert all(r is not None and processes.is_running(r) for r in records.values())

        # A crashed component: the supervisor restarts only that one, with no person involved.
        kwok = records["kwok"]
        assert kwok is not None
        os.kill(kwok.pid, signal.SIGKILL)  # by the pid its record names

        def restarted() -> bool:
            record = processes.read(layout.record("kwok"))
            return record is not None and record.pid != kwok.pid and processes.is_running(record)

        assert wait_for(restarted, 30), layout.log(WATCHDOG).read_text()
        assert f"kwok (pid {kwok.pid}) is not running any more; restarting it" in layout.log(WATCHDOG).read_text()
        assert wait_for(lambda: _states(directory) == dict.fromkeys(NAMES, "running"), 30)

        # Data outlives down/up: etcd keeps it, the ports and credentials stay.
        api = api_for(layout)
        body = {"metadata": {"name": "kept"}, "data": {"answer": "42"}}
        api.create("/api/v1/namespaces/default/configmaps", body)
        running = {name: processes.read(layout.record(name)) for name in NAMES}
        stopped = _cluster(directory, "down")
        assert stopped.returncode == 0 and "cluster stopped" in stopped.stderr
        for name, record in running.items():
            assert record is not None and not processes.is_running(record), f"{name} still runs"
            assert processes.group_members(record.pid) == [], f"{name} left processes in its group"
        assert not any(layout.run.glob("*.json")), "pid records left behind"
        assert _states(directory) == dict.fromkeys(NAMES, "stopped")
        assert _cluster(directory, "status").returncode == 1
        assert "was not running" in _cluster(directory, "down").stderr

        back = _cluster(directory, "up", "--lifetime", "900")
        assert back.returncode == 0, back.stderr
        kept = api_for(layout).get("/api/v1/namespaces/default/configmaps/kept")
        assert kept is not None and kept["data"] == {"answer": "42"}
    finally:
        purged = _cluster(directory, "down", "--purge")
    assert purged.returncode == 0
    assert not directory.exists()


def test_a_failed_up_names_the_taken_port_and_stops_what_it_started(live_toolchain: Toolchain, tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    layout = Layout(directory)
    ports = layout.create(SIMULATED)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.apiserver))
        squatter.listen()
        done = _cluster(directory, "up", "--timeout", "60")
    message = " ".join(done.stderr.split())
    assert done.returncode == 1
    assert f"port {ports.apiserver} on 127.0.0.1 (for kube-apiserver) is taken by a process this cluster did not" in (
        message
    )
    assert "(stopped what this attempt started: etcd)" in message
    assert "starting etcd" in message  # etcd did start, and was stopped again
    assert not port_in_use(ports.etcd_client)
    assert not any(layout.run.glob("*.json"))
    _cluster(directory, "down", "--purge")


def test_ctrl_c_during_up_stops_what_it_started(live_toolchain: Toolchain, tmp_path: Path) -> None:
    """An `up` interrupted half-way leaves nothing running: no supervisor would bound the life
    of what it had started."""
    directory = tmp_path / "cluster"
    proc = subprocess.Popen(
        [str(AZORA), "cluster", "up", "--node", SIMULATED, "--timeout", "60", "--dir", str(directory)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stderr is not None
    pids: list[int] = []
    try:
        for line in proc.stderr:
            if " is healthy (pid " in line:
                pids.append(int(line.rsplit("(pid ", 1)[1].split(")")[0]))
            if line.strip().startswith("kube-apiserver is healthy"):
                break
        assert len(pids) == 2, pids  # etcd, kube-apiserver
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest, rest
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not any(Layout(directory).run.glob("*.json"))
    _cluster(directory, "down", "--purge")
