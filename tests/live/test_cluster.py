"""`azora cluster up | status | env | down` on a cluster of this test's own: idempotent `up`,
a crashed component reported and restarted, data kept across `down`/`up`, nothing left
running after `down`, nothing left on disk after `down --purge`."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from azora.cluster import processes
from azora.cluster.components import COMPONENTS
from azora.cluster.layout import Layout, port_in_use
from azora.cluster.lifecycle import api_for
from azora.toolchain import Toolchain
from tests.live.conftest import AZORA

pytestmark = pytest.mark.live

NAMES = [c.name for c in COMPONENTS]


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
        if len(cells) >= 2 and cells[0] in NAMES:
            states[cells[0]] = cells[1]
    return states


def test_cluster_lifecycle(live_toolchain: Toolchain, tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    layout = Layout(directory)
    try:
        first = _cluster(directory, "up", "--lifetime", "900")
        assert first.returncode == 0, first.stderr
        assert f"started {', '.join(NAMES)}" in first.stderr
        assert stat.S_IMODE(layout.kubeconfig.stat().st_mode) == 0o600
        assert _states(directory) == dict.fromkeys(NAMES, "running")
        assert _cluster(directory, "env").stdout.strip() == f"export KUBECONFIG={layout.kubeconfig}"

        again = _cluster(directory, "up")
        assert again.returncode == 0 and "(already running)" in again.stderr
        records = {name: processes.read(layout.record(name)) for name in NAMES}
        assert all(r is not None and processes.is_running(r) for r in records.values())

        # A crashed component: status says so (exit 1), up restarts only that one.
        kwok = records["kwok"]
        assert kwok is not None
        os.kill(kwok.pid, signal.SIGKILL)  # by the pid its record names
        deadline = time.monotonic() + 10
        while processes.is_running(kwok) and time.monotonic() < deadline:
            time.sleep(0.05)
        status = _cluster(directory, "status")
        assert status.returncode == 1
        assert _states(directory)["kwok"] == "crashed"
        restarted = _cluster(directory, "up")
        assert restarted.returncode == 0, restarted.stderr
        assert f"kwok (pid {kwok.pid}) is not running any more; restarting it" in restarted.stderr
        assert "started kwok)" in restarted.stderr
        assert _states(directory) == dict.fromkeys(NAMES, "running")

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
    ports = layout.create()
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
