"""Promotion gated on live metrics, on the embedded cluster's real node: the local stack's own
Prometheus (a pod from the locally built image) scrapes every Azora pod, and `azora promote`
runs its gates against it under steady load through the active Service's ClusterIP.

- a good release passes the pre-promotion gate on the preview colour (its own traffic, compared
  with the active colour's) and the post-promotion gate, and is recorded as verified;
- a release answering 5% 500s is switched back on its own by the post-promotion gate;
- a slow release fails the latency gate and is switched back;
- with no traffic the pre-promotion gate is Inconclusive: nothing switches (exit 4);
- a query Prometheus cannot parse, or a Prometheus that does not answer, fails before anything
  switches;
- `rollback --verified` goes back to the verified revision, past an unverified one.

The tests share one stack (module scope) and run in file order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from azora.cluster.layout import Layout
from azora.config.sections import MonitoringConfig
from azora.toolchain import Toolchain
from azora.traffic import Sample, Traffic, summarize
from components.monitoring import alert_rules, dashboard
from tests.live.conftest import LiveProject, make_project, wait_for

pytestmark = pytest.mark.live

RATE = 60
PROMOTE = ("promote", "--stack", "local", "--yes")
POST = [{"builtin": "errorRatio"}, {"builtin": "latencyP95"}]
PRE = [{"builtin": "errorRatio"}, {"builtin": "relativeErrorRatio"}]


@pytest.fixture(scope="module")
def project(live_toolchain: Toolchain, live_cluster: Layout) -> Iterator[LiveProject]:
    live = make_project(live_toolchain, live_cluster, "live-gates")
    try:
        done = live.azora("up", "--stack", "local", "--yes")
        assert done.returncode == 0, done.stderr
        yield live
    finally:
        live.close()


def prometheus(project: LiveProject) -> str:
    return project.service_url_in(f"{project.namespace}-monitoring", "prometheus")


def query(project: LiveProject, promql: str) -> list[dict[str, Any]]:
    reply = requests.get(prometheus(project) + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def set_gates(project: LiveProject, pre: list | None, post: list | None) -> None:
    analysis = project.scratch.azora_config()["analysis"]
    for key, checks in (("prePromotion", pre), ("postPromotion", post)):
        if checks is None:
            analysis.pop(key, None)
        else:
            analysis[key] = checks
    project.scratch.set_azora("analysis", analysis)


def deploy(project: LiveProject, service: str, version: str) -> None:
    done = project.azora("deploy", "--stack", "local", "--service", service, "--version", version, "--yes")
    assert done.returncode == 0, done.stderr
    # The EndpointSlice follows the new pod's readiness a moment after the Deployment does.
    assert wait_for(lambda: project.ready_pods(f"{service}-preview") != [], 15)


def status(project: LiveProject, service: str) -> dict[str, Any]:
    return project.services_config()["status"][service]


def test_prometheus_scrapes_every_azora_pod_with_its_service_colour_and_version(project: LiveProject) -> None:
    def targets() -> list[dict[str, Any]]:
        return query(project, f'up{{namespace="{project.namespace}"}} == 1')

    assert wait_for(lambda: len(targets()) == 6, 30), targets()
    seen = {(t["metric"]["service"], t["metric"]["color"], t["metric"]["version"]) for t in targets()}
    versions = {name: svc["versions"]["blue"] for name, svc in project.scratch.azora_config()["services"].items()}
    assert seen == {(name, "blue", version) for name, version in versions.items()}
    # The app's own series carry the same labels (honor_labels keeps them).
    requests.get(project.service_url("web", "/"), timeout=5)
    assert wait_for(
        lambda: query(project, f'azora_http_requests_total{{namespace="{project.namespace}",service="web"}}') != [], 15
    )


def test_the_dashboards_and_alerts_read_the_series_the_pods_expose(project: LiveProject) -> None:
    """Staging and production draw and alert with these expressions (kube-prometheus-stack, its
    ServiceMonitors keeping the pods' labels); here the embedded Prometheus scrapes the same
    series. Every expression parses in a real Prometheus, and the panels over the app's own
    metrics show the service under traffic. The kube_* series come from the chart's
    kube-state-metrics, which the local stack lacks: those are only parsed."""
    namespace = project.namespace
    with Traffic(project.service_url("web"), 20):
        time.sleep(6.0)
    panels = {panel["title"]: panel["targets"][0]["expr"] for panel in dashboard("web", namespace)["panels"]}
    alerts = {rule["alert"]: rule["expr"] for rule in alert_rules("web", namespace, MonitoringConfig())}
    assert len(panels) == 4 and len(alerts) == 5, (panels, alerts)
    for expr in [*panels.values(), *alerts.values()]:
        query(project, expr)  # asserts Prometheus accepted it

    def shows_traffic(title: str) -> bool:
        shown = query(project, panels[title])
        return len(shown) == 1 and float(shown[0]["value"][1]) > 0

    # The traffic's counts reach the panels with the next scrape after it.
    for title in ("Requests per second", "p95 latency"):
        assert wait_for(lambda title=title: shows_traffic(title), 30), (title, query(project, panels[title]))
    # Nothing failed, so the 5xx panel and the error alert have no 5xx series to read, and the
    # latency alert is below its threshold.
    assert query(project, panels["5xx ratio"]) == []
    assert query(project, alerts["AzoraHighErrorRate"]) == []
    assert query(project, alerts["AzoraHighLatencyP95"]) == []


def test_a_good_release_passes_both_gates_and_is_recorded_as_verified(project: LiveProject) -> None:
    set_gates(project, PRE, POST)
    deploy(project, "marketplace", "3.1.0")
    with (
        Traffic(project.service_url("marketplace"), RATE) as active,
        Traffic(project.service_url("marketplace-preview"), RATE / 2) as preview,
    ):
        time.sleep(8.0)  # the preview colour's window holds traffic before the pre-promotion gate
        promoted = project.azora(*PROMOTE, "--service", "marketplace")
    seen = summarize(active.stop())
    preview.stop()
    assert promoted.returncode == 0, promoted.stderr
    assert "marketplace is live on green (verified by its post-promotion gate)" in promoted.stdout
    lines = promoted.stderr
    assert "marketplace prePromotion: 2 check(s) on the preview colour green 3.1.0" in lines
    assert "marketplace postPromotion: 2 check(s) on the new active colour green 3.1.0" in lines
    assert "relative-error-ratio #5" in lines and "latency-p95 #5" in lines
    assert seen.failed == 0 and seen.versions[-1] == "3.1.0", seen.as_dict()
    recorded = status(project, "marketplace")
    assert recorded["activeColor"] == "green"
    assert recorded["analysis"]["decision"] == "verified"
    assert (recorded["analysis"]["prePromotion"], recorded["analysis"]["postPromotion"]) == ("Successful", "Successful")
    assert (recorded["verified"]["color"], recorded["verified"]["version"]) == ("green", "3.1.0")
    history = json.loads(project.azora("history", "--stack", "local", "--json").stdout)
    assert history[0]["verified"] == ["marketplace"]
    assert history[0]["message"].startswith(
        "azora promote marketplace: verified green 3.1.0 (postPromotion Successful:"
    )
    assert history[1]["message"].startswith("azora promote marketplace to green (prePromotion Successful:")
    assert history[1]["verified"] == []


def _switch_back(project: LiveProject, service: str, bad: str, workers: int = 16) -> tuple[Any, list[Sample]]:
    deploy(project, service, bad)
    with Traffic(project.service_url(service), RATE, workers=workers) as load:
        time.sleep(3.0)
        promoted = project.azora(*PROMOTE, "--service", service)
        time.sleep(2.0)
    return promoted, load.stop()


def _bad_window(samples: list[Sample], bad: str) -> tuple[float, int, int]:
    served = [s for s in samples if s.version == bad]
    assert served, "the bad release never served: the switch did not happen"
    return served[-1].sent - served[0].sent, len(served), sum(1 for s in served if not s.ok)


def test_a_release_with_5pct_errors_is_switched_back_by_the_post_promotion_gate(project: LiveProject) -> None:
    set_gates(project, None, POST)
    bad = "1.6.0-errors-5pct"
    promoted, samples = _switch_back(project, "auth", bad)
    assert promoted.returncode == 3, promoted.stderr
    message = " ".join(promoted.stderr.split())
    assert "auth: the post-promotion check failed; switched back to blue" in message
    assert "postPromotion Failed: error-ratio:" in message and "result < 0.01 does not hold" in message
    window, served, failed = _bad_window(samples, bad)
    print(f"5xx release: served {served} requests over {window:.1f} s from switch to switch-back; {failed} were 500s")
    assert window < 30
    assert summarize(samples).versions == ["1.5.0", bad, "1.5.0"]
    recorded = status(project, "auth")
    assert recorded["activeColor"] == "blue"
    assert recorded["analysis"]["decision"] == "switched-back"
    assert recorded["analysis"]["postPromotion"] == "Failed"
    assert "verified" not in recorded
    history = json.loads(project.azora("history", "--stack", "local", "--json").stdout)
    assert history[0]["message"].startswith(
        "azora promote auth: switched back to blue (postPromotion Failed: error-ratio Failed ["
    )


def test_a_slow_release_fails_the_latency_gate_and_is_switched_back(project: LiveProject) -> None:
    bad = "1.6.1-slow-800ms"
    promoted, samples = _switch_back(project, "auth", bad, workers=96)
    assert promoted.returncode == 3, promoted.stderr
    message = " ".join(promoted.stderr.split())
    assert "latency-p95:" in message and "result < 0.5 does not hold" in message
    window, served, _ = _bad_window(samples, bad)
    print(f"slow release: served {served} requests over {window:.1f} s from switch to switch-back")
    assert window < 30
    assert project.selector("auth")["azora.io/color"] == "blue"


def test_with_no_traffic_the_pre_promotion_gate_is_inconclusive_and_nothing_switches(project: LiveProject) -> None:
    set_gates(project, PRE, POST)
    deploy(project, "education", "3.2.0")
    before = project.scratch.stack_file.read_text()
    latest = json.loads(project.azora("history", "--stack", "local", "--json").stdout)[0]["version"]
    held = project.azora(*PROMOTE, "--service", "education")
    assert held.returncode == 4, held.stderr
    message = " ".join(held.stderr.split())
    assert "education: the pre-promotion gate was inconclusive (too little traffic); nothing was switched" in message
    assert "below minRequests 20" in message
    assert project.selector("education")["azora.io/color"] == "blue"
    assert project.scratch.stack_file.read_text() == before
    # No update at all (`history` lists the newest 10, so its length would not tell).
    assert json.loads(project.azora("history", "--stack", "local", "--json").stdout)[0]["version"] == latest


def test_a_query_prometheus_cannot_parse_fails_before_anything_switches(project: LiveProject) -> None:
    set_gates(
        project,
        [
            {
                "name": "broken",
                "query": 'sum(rate(azora_http_requests_total{service="{{service}}"}[1m]',
                "successCondition": "result < 1",
            }
        ],
        POST,
    )
    before = project.scratch.stack_file.read_text()
    refused = project.azora(*PROMOTE, "--service", "education")
    assert refused.returncode == 2, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "azora:analysis.prePromotion[0].query" in message and "parse error" in message
    unreachable = project.azora(*PROMOTE, "--service", "education", "--prometheus-url", "http://127.0.0.1:9")
    assert unreachable.returncode == 1, unreachable.stderr
    assert "127.0.0.1:9" in unreachable.stderr
    assert project.selector("education")["azora.io/color"] == "blue"
    assert project.scratch.stack_file.read_text() == before
    set_gates(project, None, POST)


def test_rollback_verified_returns_to_the_verified_revision(project: LiveProject) -> None:
    deploy(project, "marketplace", "3.2.0")
    skipped = project.azora(*PROMOTE, "--service", "marketplace", "--skip-analysis")
    assert skipped.returncode == 0, skipped.stderr
    assert status(project, "marketplace")["activeColor"] == "blue"  # 3.2.0, unverified
    history = json.loads(project.azora("history", "--stack", "local", "--json").stdout)
    verified = [row["version"] for row in history if row["verified"]]
    assert len(verified) == 1
    unverified = history[0]["version"]
    refused = project.azora("rollback", "--stack", "local", "--verified", "--to-version", str(unverified), "--yes")
    assert refused.returncode == 2 and "is not a verified revision" in refused.stderr
    rolled = project.azora("rollback", "--stack", "local", "--verified", "--yes")
    assert rolled.returncode == 0, rolled.stderr
    assert f"rollback local to update {verified[0]}" in rolled.stdout
    assert project.selector("marketplace")["azora.io/color"] == "green"
    page = requests.get(project.service_url("marketplace", "/"), timeout=5)
    assert page.headers["X-Azora-Version"] == "3.1.0"
