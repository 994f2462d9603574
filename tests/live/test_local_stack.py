"""The local stack on the live cluster: `azora up` from empty, no drift, a blue/green switch
that never leaves the active Service without ready endpoints, a failed post-promotion check
that switches back, and a rollback from stack history.

The tests share one stack (module scope) and run in file order: each step starts from the
state the previous one left, as an on-call engineer's session would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from azora.cluster.layout import Layout
from azora.standin.server import run_standin
from azora.toolchain import Toolchain
from tests.live.conftest import LiveProject, make_project

pytestmark = pytest.mark.live

SERVICES = ("web", "api-gateway", "auth", "education", "payment", "marketplace")


@pytest.fixture(scope="module")
def project(live_toolchain: Toolchain, live_cluster: Layout) -> Iterator[LiveProject]:
    live = make_project(live_toolchain, live_cluster, "live-local-stack")
    try:
        done = live.azora("up", "--stack", "local", "--yes", "--message", "release 1")
        assert done.returncode == 0, done.stderr
        live.first_up = done  # type: ignore[attr-defined]
        live.first_services = live.services_config()  # type: ignore[attr-defined]
        yield live
    finally:
        live.scratch.close()


def _available(deployment: dict) -> bool:
    conditions = deployment.get("status", {}).get("conditions") or []
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def test_up_makes_every_deployment_available_and_every_active_service_ready(project: LiveProject) -> None:
    assert "✓ local: 53 create" in project.first_up.stdout  # type: ignore[attr-defined]
    assert '"namespace": "live-local-stack"' in project.first_up.stdout  # type: ignore[attr-defined]
    deployments = {d["metadata"]["name"]: d for d in project.items("apps/v1", "deployments")}
    assert sorted(deployments) == sorted(f"{s}-{c}" for s in SERVICES for c in ("blue", "green"))
    for name, deployment in deployments.items():
        assert _available(deployment), f"{name} is not Available: {deployment.get('status')}"
        wanted = 1 if name.endswith("-blue") else 0  # local: the idle colour idles at 0
        assert deployment["spec"]["replicas"] == wanted
        assert deployment["status"].get("readyReplicas", 0) == wanted
    for service in SERVICES:
        pods = project.ready_pods(service)
        assert len(pods) == 1, f"{service}: {pods}"
        assert project.pod_colors(pods) == {"blue"}
        assert project.ready_pods(f"{service}-preview") == []
    ingresses = project.items("networking.k8s.io/v1", "ingresses")
    assert {i["metadata"]["name"] for i in ingresses} == {"web", "api-gateway"}
    for ingress in ingresses:
        assert ingress["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}]


def test_refresh_then_preview_shows_no_drift(project: LiveProject) -> None:
    refreshed = project.scratch.handle.refresh(color="never")
    assert refreshed.summary.result == "succeeded"
    preview = project.azora("preview", "--stack", "local", "--refresh", "--expect-no-changes")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    again = project.azora("up", "--stack", "local", "--yes")
    assert again.returncode == 0, again.stderr
    assert "local: no changes" in again.stdout
    assert "preview of local: no changes" in again.stderr


def test_up_with_refresh_makes_again_what_was_deleted_outside_pulumi(project: LiveProject) -> None:
    path = project.ns_path("apps/v1", "deployments", "marketplace-blue")
    deleted = project.api.request("DELETE", path, params={"propagationPolicy": "Foreground"})
    assert deleted.status_code == 200
    while project.api.get(path) is not None:
        time.sleep(0.1)
    plain = project.azora("up", "--stack", "local", "--yes")
    assert "local: no changes" in plain.stdout  # the state still believes it exists
    fixed = project.azora("up", "--stack", "local", "--yes", "--refresh")
    assert fixed.returncode == 0, fixed.stderr
    assert "refreshed: 1 resource(s) no longer in the cluster" in fixed.stderr
    assert "✓ local: 1 create" in fixed.stdout
    assert _available(project.deployment("marketplace-blue"))
    assert project.pod_colors(project.ready_pods("marketplace")) == {"blue"}


def test_smoke_on_the_embedded_cluster_needs_a_base_url(project: LiveProject) -> None:
    before = project.services_config()
    refused = project.azora("deploy", "--stack", "local", "--service", "payment", "--version", "2.1.0", "--yes")
    assert refused.returncode == 2  # bad input: refused before anything was applied
    assert "pass --base-url URL where the apps run" in " ".join(refused.stderr.split())
    assert project.services_config() == before  # refused before anything was applied
    assert project.deployment("payment-green")["spec"]["replicas"] == 0


class EndpointWatcher:
    """Polls a Service's ready EndpointSlice endpoints every 50 ms in a thread."""

    def __init__(self, project: LiveProject, service: str, interval: float = 0.05):
        self.project, self.service, self.interval = project, service, interval
        self.samples: list[tuple[float, list[str]]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.samples.append((started, self.project.ready_pods(self.service)))
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(exc))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> EndpointWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_switch_never_leaves_the_active_service_without_ready_endpoints(project: LiveProject) -> None:
    deployed = project.azora(
        "deploy", "--stack", "local", "--service", "payment", "--version", "2.1.0", "--yes", "--no-smoke"
    )
    assert deployed.returncode == 0, deployed.stderr
    assert project.deployment("payment-green")["status"]["readyReplicas"] == 1
    assert project.pod_colors(project.ready_pods("payment-preview")) == {"green"}
    assert project.pod_colors(project.ready_pods("payment")) == {"blue"}

    with EndpointWatcher(project, "payment") as watcher:
        promoted = project.azora("promote", "--stack", "local", "--service", "payment", "--yes", "--no-smoke")
        time.sleep(1.0)  # keep watching while the endpoint controllers settle
    assert promoted.returncode == 0, promoted.stderr
    assert watcher.errors == []
    assert len(watcher.samples) >= 20
    empty = [at for at, pods in watcher.samples if not pods]
    assert empty == [], f"{len(empty)} of {len(watcher.samples)} samples saw no ready endpoint"
    seen = {tuple(pods) for _, pods in watcher.samples}
    assert len(seen) >= 2, "the watcher never saw the switch happen"
    assert project.selector("payment")["azora.io/color"] == "green"
    assert project.pod_colors(project.ready_pods("payment")) == {"green"}
    # The preview Service ends on the old colour, which is still scaled up for a fast rollback.
    assert project.selector("payment-preview")["azora.io/color"] == "blue"
    assert project.pod_colors(project.ready_pods("payment-preview")) == {"blue"}


def test_failed_post_promotion_check_switches_back_on_the_cluster(project: LiveProject) -> None:
    deployed = project.azora(
        "deploy", "--stack", "local", "--service", "auth", "--version", "1.6.0", "--yes", "--no-smoke"
    )
    assert deployed.returncode == 0, deployed.stderr
    with run_standin(unhealthy={"auth"}, lifetime=600) as standin:
        promoted = project.azora(
            "promote", "--stack", "local", "--service", "auth", "--yes", "--base-url", standin.base_url
        )
        assert standin.health_hits("auth") >= 1
    assert promoted.returncode == 3
    assert "auth: the post-promotion check failed; switched back to blue" in promoted.stderr
    assert project.selector("auth")["azora.io/color"] == "blue"
    assert project.pod_colors(project.ready_pods("auth")) == {"blue"}
    assert project.services_config()["status"]["auth"]["activeColor"] == "blue"


def test_rollback_from_history_restores_the_first_release_on_the_cluster(project: LiveProject) -> None:
    assert project.selector("payment")["azora.io/color"] == "green"  # promoted above
    # The default target: the newest successful update that is not a step of the release
    # (deploy, promote); here the `azora up --refresh` above, whose config is release 1's.
    history = json.loads(project.azora("history", "--stack", "local", "--json").stdout)
    target = next(
        row
        for row in history
        if row["kind"] == "update"
        and row["result"] == "succeeded"
        and not row["message"].startswith(("azora deploy ", "azora promote "))
    )
    assert target["message"] == "azora up"
    assert target["services"]["payment"]["activeColor"] == "blue"
    rolled = project.azora("rollback", "--stack", "local", "--yes")
    assert rolled.returncode == 0, rolled.stderr
    assert f"rollback local to update {target['version']} (azora up)" in rolled.stdout
    assert project.services_config() == project.first_services  # type: ignore[attr-defined]
    for service in ("payment", "auth"):
        assert project.selector(service)["azora.io/color"] == "blue"
        assert project.pod_colors(project.ready_pods(service)) == {"blue"}
    green = project.deployment("payment-green")
    assert green["spec"]["replicas"] == 0
    assert green["metadata"]["labels"]["app.kubernetes.io/version"] == "2.0.4"
    after = json.loads(project.azora("history", "--stack", "local", "--json").stdout)
    assert after[0]["message"] == f"azora rollback to update {target['version']}"
    preview = project.azora("preview", "--stack", "local", "--refresh", "--expect-no-changes")
    assert preview.returncode == 0, preview.stdout + preview.stderr
