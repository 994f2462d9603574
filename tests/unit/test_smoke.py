"""`azora smoke` against the stand-in app: healthy, broken, flaky, bad input, JUnit report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from azora.cli import app
from azora.config.load import load_stack_file
from azora.smoke import RetryPolicy, outputs_from_config, run_checks, targets_from_outputs
from tests.standin import run_standin
from tests.standin.state import services_from_outputs

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = outputs_from_config(load_stack_file(ROOT / "Pulumi.staging.yaml"))
FAST = ["--retries", "2", "--backoff", "0.01", "--timeout", "2"]


def _smoke(base_url: str, tmp_path: Path, *extra: str) -> tuple[int, dict, ET.Element]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    report = tmp_path / "smoke.xml"
    result = CliRunner().invoke(
        app,
        [
            "smoke",
            "--stack",
            "staging",
            "--outputs",
            str(outputs),
            "--base-url",
            base_url,
            "--junit",
            str(report),
            "--json",
            *FAST,
            *extra,
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout), ET.parse(report).getroot()


def test_healthy_stand_in_passes_and_reports_every_service(tmp_path: Path) -> None:
    with run_standin(services_from_outputs(OUTPUTS), lifetime=60) as standin:
        code, report, junit = _smoke(standin.base_url, tmp_path)
    assert code == 0
    cases = junit.iter("testcase")
    assert sorted(case.get("name") for case in cases) == sorted(OUTPUTS["services"])
    assert not list(junit.iter("failure"))
    assert report


def test_one_broken_service_fails_the_run_and_is_named(tmp_path: Path) -> None:
    with run_standin(services_from_outputs(OUTPUTS), lifetime=60, unhealthy={"payment"}) as standin:
        code, _, junit = _smoke(standin.base_url, tmp_path)
        hits = standin.health_hits("payment")
    assert code == 1
    failed = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None]
    assert failed == ["payment"]
    assert hits == 3  # first attempt plus two retries


def test_a_flaky_service_recovers_within_the_retries() -> None:
    with run_standin(services_from_outputs(OUTPUTS), lifetime=60, flaky={"auth": 2}) as standin:
        targets = [t for t in targets_from_outputs(OUTPUTS, standin.base_url, preview=False) if t.service == "auth"]
        [result] = run_checks(targets, RetryPolicy(retries=3, backoff=0.01, timeout=2))
    assert result.ok and result.attempts == 3


def test_the_preview_services_report_the_idle_colour() -> None:
    with run_standin(services_from_outputs(OUTPUTS), lifetime=60) as standin:
        targets = targets_from_outputs(OUTPUTS, standin.base_url, preview=True)
        results = run_checks(targets, RetryPolicy(retries=0, timeout=2))
    web = next(r for r in results if r.target.service == "web")
    assert web.ok and (web.colour, web.version) == ("green", "2.4.0")


def test_bad_input_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["smoke", "--stack", "staging", "--base-url", "not a url", "--outputs", "/nope.json"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
