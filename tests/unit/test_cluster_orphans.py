"""A real node's cluster whose directory is deleted while its processes run (a /tmp cleaner,
pytest's retention of old temporary directories): the machine's node record keeps a copy of
every process record, so `down` (and the next `up` clearing a stale node) still stops them by
their ids. Real processes stand in for the components; the host itself (iptables, the bridge,
cgroups) is not touched: those steps are replaced and only their calls are recorded."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from azora.cluster import lifecycle, network, processes, sandboxes
from azora.cluster.layout import Layout

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The node record in a file of the test's own; the host steps of `down` recorded, not run."""
    monkeypatch.setattr(network, "HOST_RECORD", tmp_path / "node.json")
    calls: list[str] = []
    monkeypatch.setattr(sandboxes, "stop_containers", lambda paths, progress: calls.append("stop_containers") or 0)
    monkeypatch.setattr(sandboxes, "release", lambda paths, root, progress: calls.append("release"))
    monkeypatch.setattr(
        network, "teardown", lambda root, progress, kube_proxy=None: calls.append(f"teardown {root}") or True
    )
    return calls


def _start(layout: Layout, name: str) -> processes.Record:
    return processes.start(SLEEP, layout.log(name), layout.record(name))


def test_down_stops_by_the_node_records_copies_what_a_deleted_directory_named(tmp_path: Path, host: list[str]) -> None:
    layout = Layout(tmp_path / "cluster")
    started = {name: _start(layout, name) for name in ("etcd", "containerd", "kubelet")}
    try:
        network.HOST_RECORD.write_text(json.dumps({"owner": str(layout.root)}))
        lifecycle._remember(layout)
        kept = json.loads(network.HOST_RECORD.read_text())["processes"]
        assert {name: fields["pid"] for name, fields in kept.items()} == {n: r.pid for n, r in started.items()}
        shutil.rmtree(layout.root)

        lines: list[str] = []
        stopped = lifecycle.down(layout, progress=lines.append, bin_dir=tmp_path)
    finally:
        for record in started.values():
            processes.stop(record, grace=2)
    assert stopped == ["kubelet", "containerd", "etcd"]  # down's order: nothing restarts what is stopped
    assert not any(processes.is_running(record) for record in started.values())
    assert lines == [
        f"stopped {name} (pid {started[name].pid}), which only the machine's node record still named"
        for name in stopped
    ]
    # Kubelet first, then the containers it would have restarted, then containerd.
    assert host == ["stop_containers", "release", f"teardown {layout.root}"]


def test_a_copy_whose_pid_runs_another_process_is_left_alone(tmp_path: Path, host: list[str]) -> None:
    layout = Layout(tmp_path / "cluster")
    record = _start(layout, "kubelet")
    try:
        stranger = processes.Record(
            record.pid, record.start_time + 60, record.argv, record.started_at, record.boot_time
        )
        network.HOST_RECORD.write_text(
            json.dumps({"owner": str(layout.root), "processes": {"kubelet": asdict(stranger)}})
        )
        shutil.rmtree(layout.root)
        assert lifecycle.down(layout, bin_dir=tmp_path) == []
        assert processes.is_running(record)
    finally:
        assert processes.stop(record, grace=2) is True
    assert host == ["stop_containers", "release", f"teardown {layout.root}"]


def test_down_of_a_cluster_whose_node_does_not_hold_the_machine_leaves_the_containers_alone(
    tmp_path: Path, host: list[str]
) -> None:
    """The node's cgroups (/azora) are the one real node's: a simulated cluster's `down`, or a
    real one's after another node took the machine, stops its own processes and nothing else."""
    layout = Layout(tmp_path / "cluster")
    record = _start(layout, "kwok")
    network.HOST_RECORD.write_text(json.dumps({"owner": "/elsewhere"}))
    try:
        assert lifecycle.down(layout, bin_dir=tmp_path) == ["kwok"]
        assert not processes.is_running(record) and not layout.record("kwok").exists()
    finally:
        processes.stop(record, grace=2)
    assert host == [f"teardown {layout.root}"]  # teardown itself refuses another cluster's record


def test_another_clusters_node_record_is_never_written_or_read(tmp_path: Path, host: list[str]) -> None:
    layout = Layout(tmp_path / "cluster")
    record = _start(layout, "etcd")
    try:
        network.HOST_RECORD.write_text(json.dumps({"owner": "/elsewhere"}))
        lifecycle._remember(layout)
        assert json.loads(network.HOST_RECORD.read_text()) == {"owner": "/elsewhere"}
        assert network.remembered_processes(layout.root) == {}
    finally:
        processes.stop(record, grace=2)
