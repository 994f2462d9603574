"""Health suite: every service's health endpoint, opened in the browser, answers healthy JSON.

Services and health paths come from the stack file `azora e2e` names ($AZORA_E2E_STACK_FILE: the
project's `Pulumi.<stack>.yaml`), else `Pulumi.$AZORA_E2E_STACK.yaml` in the working directory
(default local), else the six Azora services; reached as
<base URL>/<service><healthPath> (azora.smoke's base-URL convention).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page

from azora.config.errors import ConfigError
from azora.config.load import load_stack_file
from azora.smoke import FAILING_STATUS_WORDS, Target, outputs_from_config, targets_from_outputs

pytestmark = pytest.mark.e2e

FALLBACK_SERVICES = {
    "web": "/api/health",
    "api-gateway": "/health",
    "auth": "/health",
    "education": "/health",
    "payment": "/health",
    "marketplace": "/health",
}


def _outputs() -> dict:
    """The stack's services as the program would export them; the six defaults without a stack file."""
    stack = os.environ.get("AZORA_E2E_STACK", "local")
    try:
        path = os.environ.get("AZORA_E2E_STACK_FILE") or f"Pulumi.{stack}.yaml"
        return outputs_from_config(load_stack_file(Path(path)))
    except ConfigError:
        return {
            "services": {
                name: {"activeColor": "blue", "healthUrl": f"http://{name}{path}"}
                for name, path in FALLBACK_SERVICES.items()
            }
        }


OUTPUTS = _outputs()


def _target(base_url: str, service: str) -> Target:
    return next(t for t in targets_from_outputs(OUTPUTS, base_url, preview=False) if t.service == service)


@pytest.mark.parametrize("service", sorted(OUTPUTS["services"]))
def test_health_endpoint(page: Page, base_url: str, service: str) -> None:
    target = _target(base_url, service)
    response = page.goto(target.url)
    assert response is not None, f"{service}: no response from {target.url}"
    assert response.status == 200, f"{service}: HTTP {response.status} from {target.url}: {response.text()[:200]}"
    body = response.json()
    assert body.get("service") == service, f"{service}: health body names {body.get('service')!r}"
    assert str(body.get("status", "ok")).lower() not in FAILING_STATUS_WORDS, f"{service}: {body}"
    assert body.get("version"), f"{service}: health body reports no version: {body}"
