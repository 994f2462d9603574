"""`azora render` as a user runs it: the real engine, the policy pack, manifests on disk."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import azora.render as render_module
from azora.toolchain import Toolchain, cache_root

pytestmark = pytest.mark.integration

AZORA = Path(sys.executable).parent / "azora"
ROOT = Path(__file__).resolve().parents[2]
TEST_CHART = str(ROOT / "tests" / "charts" / "stand-in")
SERVICES = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]


def _render(stack: str, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`azora render` as a user runs it, the charts left out (no network)."""
    argv = [str(AZORA), "render", "--stack", stack, "--out", str(out), "--charts", "skip"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, env=env)


def test_render_production_leaves_both_colours_of_every_service(toolchain: object, tmp_path: Path) -> None:
    out = tmp_path / "x"
    done = _render("production", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    deployments = {}
    for path in out.rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == "Deployment":
                deployments[document["metadata"]["name"]] = document
    assert sorted(deployments) == sorted(f"{s}-{c}" for s in SERVICES for c in ("blue", "green"))
    web_blue = deployments["web-blue"]["spec"]
    assert web_blue["replicas"] == 3 and deployments["web-green"]["spec"]["replicas"] == 1
    assert web_blue["template"]["spec"]["containers"][0]["image"] == "ghcr.io/azora/web:2.3.1"
    # Secret values never reach rendered files: the throwaway stack holds placeholders.
    secret = yaml.safe_load(next(out.rglob("*secret-azora-production-payment-secrets.yaml")).read_text())
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {"DATABASE_URL": "<secret:postgresqlUrl>", "SENTRY_DSN": "<secret:sentryDsn>"}


def test_a_home_other_than_the_passwd_entry_is_where_plugins_go_and_are_found(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    """CI containers often run with HOME unlike the passwd entry's home; pulumi itself takes the
    passwd one. `tools install` registers the plugins in $HOME/.pulumi, and the engine finds them."""
    home = tmp_path / "home"
    env = {key: value for key, value in os.environ.items() if key != "PULUMI_HOME"}
    env.update(HOME=str(home), AZORA_CACHE_DIR=str(cache_root()))  # the built toolchain, not a rebuild
    installed = subprocess.run(
        [str(AZORA), "tools", "install"], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert "installed plugin resource kubernetes 4.25.0" in installed.stderr
    assert (home / ".pulumi" / "plugins" / "resource-kubernetes-v4.25.0").is_dir()
    out = tmp_path / "out"
    done = _render("local", out, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in out.rglob("*-web-blue.yaml")] == ["apps_v1-deployment-azora-local-web-blue.yaml"]


def test_render_rejects_an_unknown_stack_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(AZORA), "render", "--stack", "qa", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2  # bad input
    assert "Pulumi.qa.yaml not found in" in done.stderr and "(stacks: local, production, staging)" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_auto_leaves_out_only_the_charts_it_cannot_reach(
    toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of staging's charts point at the local test chart (always reachable); no remote
    repository answers. The render must leave out exactly the four remote charts, through the
    real config path (`azora:skipCharts` as a list), and still render the two local ones."""

    def two_local_charts(azora: dict[str, Any]) -> None:
        azora["releases"]["ingress-nginx"] = {"chart": TEST_CHART, "namespace": "ingress-nginx"}
        azora["postgresql"]["chart"] = {"chart": TEST_CHART}

    asked: list[str] = []

    def nothing_answers(repo: str) -> bool:
        asked.append(repo)
        return False

    monkeypatch.setattr(render_module, "repository_reachable", nothing_answers)
    out = tmp_path / "out"
    result = render_module.render("staging", out, toolchain, "auto", edit=two_local_charts)
    assert [chart.key for chart in result.skipped_charts] == [
        "releases.cert-manager",
        "redis.chart",
        "monitoring.prometheus.chart",
        "monitoring.tracing.chart",
    ]
    assert {chart.reason for chart in result.skipped_charts} == {"repository not reachable"}
    assert TEST_CHART not in asked
    objects = [d for path in out.rglob("*.yaml") for d in yaml.safe_load_all(path.read_text()) if d]
    deployments = {
        (d["metadata"].get("namespace"), d["metadata"]["name"]) for d in objects if d["kind"] == "Deployment"
    }
    # The two local charts are rendered (the stand-in chart makes one Deployment each) ...
    assert ("ingress-nginx", "ingress-nginx") in deployments
    assert ("azora-staging", "postgresql") in deployments
    # ... the four unreachable ones are not, and the services are all there.
    names = {name for _, name in deployments}
    assert not {n for n in names if "cert-manager" in n or "redis" in n or "prometheus" in n or "otel" in n}
    assert {f"{s}-{c}" for s in SERVICES for c in ("blue", "green")} <= names
