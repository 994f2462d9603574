"""The real node recovers from kill -9 without a person, under steady traffic: of containerd,
of kubelet (the supervisor restarts them; the containers run on meanwhile), and of a pod's
process (kubelet restarts the container). Each phase's failed requests are reported.

containerd is not in the request path: no request may fail while it restarts. A restarted
kubelet may report a running container unready until its next readiness probe (Kubernetes
does, at 1.34: kubernetes/kubernetes#100277, open upstream, with no kubelet setting to keep
the last result), which takes the pod out of the Service for about a second; that phase, like
the pod's own death, is reported, and the service must serve again without anyone's help.

"Serves again" means the traffic itself has answered cleanly for a whole window of seconds
(`CLEAN_WINDOW`), judged only after the new kubelet has probed the pod (its own probe
counters, read through the API server's node proxy, start at zero). One good request is not
enough: the new kubelet's unready report, and the EndpointSlice and kube-proxy updates that
follow it, can reach the Service a second or two after a request has already been answered
(a CI run failed on exactly that, twice, with "is it ready and did one request pass").

A stack of one service (payment) in a namespace of its own, so the phases are quick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from azora.cluster import processes
from azora.cluster.layout import NODE_NAME, Layout
from azora.cluster.node import NodePaths
from azora.toolchain import Toolchain
from azora.traffic import Traffic, summarize
from tests.live.conftest import LiveProject, make_project, wait_for

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def project(live_toolchain: Toolchain, live_cluster: Layout) -> Iterator[LiveProject]:
    live = make_project(live_toolchain, live_cluster, "live-node-recovery", services=("payment",))
    try:
        done = live.azora("up", "--stack", "local", "--yes")
        assert done.returncode == 0, done.stderr
        yield live
    finally:
        live.close()


def _restarted(layout: Layout, name: str, old_pid: int) -> bool:
    record = processes.read(layout.record(name))
    return record is not None and record.pid != old_pid and processes.is_running(record)


def _kill_component(layout: Layout, name: str) -> None:
    record = processes.read(layout.record(name))
    assert record is not None and processes.is_running(record), f"{name} is not running"
    os.kill(record.pid, signal.SIGKILL)  # by the pid its record names
    assert wait_for(lambda: _restarted(layout, name, record.pid), 60), f"{name} was not restarted"


def _container_pid(layout: Layout, container_id: str) -> int:
    """The container's main process, as containerd reports it."""
    listing = subprocess.run(
        ["ctr", "--address", str(NodePaths(layout).containerd_socket), "-n", "k8s.io", "tasks", "ls"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in listing.splitlines()[1:]:
        task, pid, *_ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no task {container_id} in:\n{listing}")


CLEAN_WINDOW = 5.0  # seconds of traffic with no failure that count as "serves again"
RATE = 50.0


def _clean_for(load: Traffic, since: float, window: float = CLEAN_WINDOW) -> bool:
    """The traffic sent after `since` has answered every request of the last `window`
    seconds (leaving out the last half second, whose requests may still be in flight)."""
    now = time.monotonic()
    begin, end = now - 0.5 - window, now - 0.5
    if begin < since:
        return False
    recent = [s for s in load.samples() if begin <= s.sent < end]
    return len(recent) >= 0.8 * RATE * window and all(s.ok for s in recent)


def _readiness_probes(project: LiveProject) -> float:
    """How many readiness probes of payment's pods the running kubelet has made (it counts
    from zero when it starts), from its /metrics/probes."""
    scrape = project.api.request("GET", f"/api/v1/nodes/{NODE_NAME}/proxy/metrics/probes")
    if not scrape.ok:  # the kubelet is not serving yet
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
        if sample.name == "prober_probe_total"
        and sample.labels.get("probe_type") == "Readiness"
        and sample.labels.get("namespace") == project.namespace
        and sample.labels.get("container") == "payment"
    )


def _payment_pod(project: LiveProject) -> dict[str, Any]:
    pods = project.items("v1", "pods", labelSelector="app.kubernetes.io/name=payment,azora.io/color=blue")
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def _container_ready(project: LiveProject) -> bool:
    statuses = _payment_pod(project)["status"].get("containerStatuses") or [{}]
    return bool(statuses[0].get("ready"))


def _restarts(project: LiveProject) -> int:
    statuses = _payment_pod(project)["status"].get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount", 0))


def test_kill_9_of_containerd_kubelet_and_a_pod_under_traffic(project: LiveProject) -> None:
    layout = project.layout
    marks: list[tuple[str, float]] = []
    with Traffic(project.service_url("payment"), RATE) as load:
        assert wait_for(lambda: _clean_for(load, load.started), 30), "payment did not serve before the kills"
        for component in ("containerd", "kubelet"):
            marks.append((component, time.monotonic()))
            _kill_component(layout, component)
            if component == "kubelet":
                assert wait_for(lambda: _readiness_probes(project) > 0, 60), "the new kubelet never probed payment"
            probed = time.monotonic()
            serves_again = wait_for(lambda since=probed: _clean_for(load, since), 90)
            assert serves_again, f"payment did not serve again after {component}"
        marks.append(("pod", time.monotonic()))
        pod = _payment_pod(project)
        container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        restarts = _restarts(project)
        os.kill(_container_pid(layout, container_id), signal.SIGKILL)
        assert wait_for(lambda: _restarts(project) > restarts, 60), "kubelet did not restart the container"
        assert wait_for(lambda: _container_ready(project), 60), "the new container never turned ready"
        ready = time.monotonic()
        assert wait_for(lambda: _clean_for(load, ready), 90), "the pod did not serve again"
        marks.append(("end", time.monotonic()))
    samples = load.stop()
    phases: dict[str, dict[str, object]] = {}
    for (name, start), (_, end) in zip(marks, marks[1:], strict=False):
        phases[name] = summarize([s for s in samples if start <= s.sent < end]).as_dict()
    print(f"kill -9 under load: {json.dumps(phases)}")
    assert phases["containerd"]["failed"] == 0, phases  # not in the request path
    assert all(p["versions"] == phases["containerd"]["versions"] for p in phases.values()), phases
