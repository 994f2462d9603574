"""`azora smoke --preview` when nothing answers on a preview Service: the failure says that the
Service selects the idle colour, which runs no pods until a release scales it up (on the local
stack, previewReplicas is 0, so an undeployed idle colour has none)."""

from __future__ import annotations

import socket
from pathlib import Path

from azora.config.load import load_stack_file
from azora.smoke import RetryPolicy, Target, outputs_from_config, run_checks, summary_line, targets_from_outputs
from azora.standin import run_standin, services_from_outputs

ROOT = Path(__file__).resolve().parents[2]
LOCAL = load_stack_file(ROOT / "Pulumi.local.yaml")
FAST = RetryPolicy(retries=1, backoff=0.01, timeout=2)


def _outputs() -> dict:
    return outputs_from_config(LOCAL)


def _closed_base_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_preview_service_without_pods_says_why() -> None:
    targets = targets_from_outputs(_outputs(), _closed_base_url(), preview=True)
    results = {r.target.service: r for r in run_checks(targets, FAST)}
    web = results["web"]
    assert not web.ok and web.status is None
    assert web.error is not None and web.error.startswith("connection failed: connection refused (")
    assert (
        "web-preview selects the idle colour green: no ready pods until "
        "`azora deploy --service web --version V` scales it up, or with previewReplicas > 0"
    ) in summary_line(web)
    assert all(not r.ok and r.error and "selects the idle colour green" in r.error for r in results.values())


def test_the_hint_is_only_for_a_preview_that_does_not_answer() -> None:
    base = _closed_base_url()
    active = run_checks(targets_from_outputs(_outputs(), base, preview=False), FAST)
    assert all(r.error and "idle colour" not in r.error for r in active)
    # a preview that answers, even with an error, needs no guess about missing pods
    with run_standin(services_from_outputs(_outputs()), lifetime=60, unhealthy={"auth"}) as standin:
        preview = {
            r.target.service: r for r in run_checks(targets_from_outputs(_outputs(), standin.base_url, True), FAST)
        }
    assert preview["web"].ok and preview["web"].colour == "green"
    assert preview["auth"].status == 500 and preview["auth"].error and "idle colour" not in preview["auth"].error
    # the hint is presentation: targets compare as before
    gateway = targets_from_outputs(_outputs(), base, preview=True)[0]
    assert gateway.hint and gateway == Target("api-gateway", f"{base}/api-gateway-preview/health", "1.8.2", "green")
