"""`azora render` as a user runs it: the real engine, the policy pack, manifests on disk."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

AZORA = Path(sys.executable).parent / "azora"
SERVICES = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]


def test_render_production_leaves_both_colours_of_every_service(toolchain: object, tmp_path: Path) -> None:
    out = tmp_path / "x"
    done = subprocess.run(
        [str(AZORA), "render", "--stack", "production", "--out", str(out), "--charts", "skip"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
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


def test_render_rejects_an_unknown_stack_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(AZORA), "render", "--stack", "qa", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Pulumi.qa.yaml: config: cannot read file" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
