"""`azora smoke`: targets, retries with backoff, exit codes, JUnit and JSON, against the stand-in."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from azora.cli import app as azora_app
from azora.commands import smoke as smoke_command
from azora.config.load import load_stack_file
from azora.smoke import (
    OutputsUnavailable,
    Reply,
    RetryPolicy,
    SmokeInputError,
    Target,
    check_target,
    evaluate,
    outputs_from_config,
    run_checks,
    targets_from_outputs,
    targets_from_urls,
)
from azora.standin import StandIn, default_services, run_standin, services_from_outputs

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--backoff", "0.01", "--timeout", "2"]
runner = CliRunner()


def _root_app(app: typer.Typer) -> typer.Typer:
    """Mount the sub-app as azora.cli will (`azora smoke ...`)."""
    root = typer.Typer()
    root.add_typer(app, name="smoke")

    @root.command("version")
    def _version() -> None:  # a second command, so `smoke` is a real sub-command
        pass

    return root


APP = _root_app(smoke_command.app)


def smoke(*args: str, app: typer.Typer = APP) -> Any:
    return runner.invoke(app, ["smoke", *args])


def standin_outputs(standin: StandIn | None = None) -> dict[str, Any]:
    """Outputs shaped like the program's export, for the stand-in's default services."""
    services = standin.state.services if standin else default_services()
    return {
        "environment": "local",
        "namespace": "azora-test",
        "services": {
            name: {
                "activeColor": info.active_colour,
                "activeService": name,
                "previewService": f"{name}-preview",
                "versions": dict(info.versions),
                "healthUrl": f"http://{name}.azora-test.svc.cluster.local:8080{info.health_path}",
                "publicUrl": "",
            }
            for name, info in services.items()
        },
    }


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with run_standin() as running:
        yield running


@pytest.fixture
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(standin_outputs()))
    return path


def _junit(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in root.iter("testcase")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- whole command


def test_healthy_stand_in_passes(standin: StandIn, outputs_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "smoke.xml"
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--outputs", str(outputs_file),
                   "--junit", str(report), *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == 6 and "✗" not in result.output
    assert f"{standin.base_url}/web/api/health" in result.output
    assert "200, " in result.output and "1 attempt" in result.output
    root = _junit(report)
    assert set(_cases(root)) == {"web", "api-gateway", "auth", "education", "payment", "marketplace"}
    assert root.find("testsuite").get("failures") == "0"  # type: ignore[union-attr]


def test_one_unhealthy_service_fails_and_is_named_in_junit(
    standin: StandIn, outputs_file: Path, tmp_path: Path
) -> None:
    standin.set(unhealthy={"payment"})
    report = tmp_path / "smoke.xml"
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--outputs", str(outputs_file),
                   "--junit", str(report), "--retries", "1", *FAST)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "✗ payment" in result.output and result.output.count("✓") == 5
    cases = _cases(_junit(report))
    assert len(cases) == 6
    failure = cases["payment"].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "payment" in message and "500" in message and "2 attempts" in message and " ms" in message
    assert all(cases[name].find("failure") is None for name in cases if name != "payment")


def test_same_server_healthy_then_broken(standin: StandIn, outputs_file: Path, tmp_path: Path) -> None:
    args = ["--stack", "test", "--base-url", standin.base_url, "--outputs", str(outputs_file),
            "--junit", str(tmp_path / "r.xml"), "--retries", "0", *FAST]  # fmt: skip
    assert smoke(*args).exit_code == 0
    standin.set(unhealthy="all")
    result = smoke(*args)
    assert result.exit_code == 1 and result.output.count("✗") == 6


def test_a_service_failing_twice_then_recovering_passes_on_the_third_attempt(
    standin: StandIn, outputs_file: Path, tmp_path: Path
) -> None:
    standin.set(flaky={"auth": 2})
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--outputs", str(outputs_file),
                   "--junit", str(tmp_path / "r.xml"), "--json", *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_service = {r["service"]: r for r in report["results"]}
    assert by_service["auth"]["attempts"] == 3 and by_service["auth"]["ok"] is True
    assert by_service["education"]["attempts"] == 1
    assert standin.health_hits("auth") == 3


def test_retries_are_bounded(standin: StandIn, outputs_file: Path, tmp_path: Path) -> None:
    standin.set(flaky={"auth": 5})
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--outputs", str(outputs_file),
                   "--junit", str(tmp_path / "r.xml"), "--json", "--retries", "2", *FAST)  # fmt: skip
    assert result.exit_code == 1
    auth = next(r for r in json.loads(result.output)["results"] if r["service"] == "auth")
    assert auth["attempts"] == 3 and auth["status"] == 503 and "HTTP 503" in auth["error"]
    assert standin.health_hits("auth") == 3


def test_per_request_timeout(standin: StandIn, tmp_path: Path) -> None:
    standin.set(slow={"auth": 1.0})
    result = smoke("--stack", "test", "--service", f"auth={standin.base_url}/auth/health", "--timeout", "0.2",
                   "--retries", "0", "--json", "--junit", str(tmp_path / "r.xml"))  # fmt: skip
    assert result.exit_code == 1
    [auth] = json.loads(result.output)["results"]
    assert auth["error"] == "timed out after 0.2s" and auth["status"] is None


def test_version_mismatch_fails(standin: StandIn, tmp_path: Path) -> None:
    outputs = standin_outputs()
    outputs["services"]["auth"]["versions"]["blue"] = "9.9.9"
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--outputs", str(path),
                   "--junit", str(tmp_path / "r.xml"), "--retries", "0")  # fmt: skip
    assert result.exit_code == 1
    assert "version 1.0.0, expected 9.9.9" in result.output


def test_preview_checks_the_idle_colour(standin: StandIn, outputs_file: Path, tmp_path: Path) -> None:
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--outputs", str(outputs_file), "--preview",
                   "--json", "--junit", str(tmp_path / "r.xml"), *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    assert all(r["colour"] == "green" and r["version"] == "1.1.0" for r in results)
    assert f"{standin.base_url}/auth-preview/health" in {r["url"] for r in results}
    assert standin.health_hits("auth-preview") == 1 and standin.health_hits("auth") == 0


def test_explicit_service_urls_need_no_outputs(standin: StandIn, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{_free_port()}/health"
    result = smoke("--stack", "test", "--service", f"auth={standin.base_url}/auth/health",
                   "--service", f"ghost={closed}", "--retries", "0", "--junit", str(tmp_path / "r.xml"))  # fmt: skip
    assert result.exit_code == 1
    assert "✓ auth" in result.output
    assert "✗ ghost" in result.output and "no response" in result.output and "connection" in result.output


def test_base_url_with_the_stack_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No outputs: `--base-url` lists the services, versions and colours of Pulumi.<stack>.yaml."""
    monkeypatch.chdir(ROOT)
    expected = outputs_from_config(load_stack_file(ROOT / "Pulumi.local.yaml"))
    with run_standin(services_from_outputs(expected)) as standin:
        result = smoke("--stack", "local", "--base-url", standin.base_url, "--junit", str(tmp_path / "r.xml"),
                       "--json", *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {r["service"] for r in json.loads(result.stdout)["results"]} == set(expected["services"])


def test_default_junit_path(standin: StandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    result = smoke("--stack", "qa", "--service", f"auth={standin.base_url}/auth/health")
    assert result.exit_code == 0, result.output
    assert len(_cases(_junit(tmp_path / "reports" / "smoke-qa.xml"))) == 1


def test_outputs_from_an_environment_variable(
    standin: StandIn, outputs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZORA_STACK_OUTPUTS", str(outputs_file))
    result = smoke("--stack", "test", "--base-url", standin.base_url, "--junit", str(tmp_path / "r.xml"), *FAST)
    assert result.exit_code == 0, result.output


def test_plugged_outputs_reader(standin: StandIn, tmp_path: Path) -> None:
    """How the Automation API adapter plugs in: make_app(read_outputs=...)."""
    seen: list[str] = []

    def read(stack: str, context: Any) -> Mapping[str, Any]:
        seen.append(stack)
        return standin_outputs()

    app = _root_app(smoke_command.make_app(read_outputs=read))
    result = smoke("--stack", "staging", "--base-url", standin.base_url, "--junit", str(tmp_path / "r.xml"), app=app)
    assert result.exit_code == 0, result.output
    assert seen == ["staging"]

    def unavailable(stack: str, context: Any) -> Mapping[str, Any]:
        raise OutputsUnavailable("no Pulumi CLI on PATH")

    app = _root_app(smoke_command.make_app(read_outputs=unavailable))
    result = smoke("--stack", "staging", "--junit", str(tmp_path / "r.xml"), app=app)
    assert result.exit_code == 2 and "no Pulumi CLI on PATH" in result.output


def test_a_failing_outputs_reader_never_shows_a_traceback(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(stack: str, context: Any) -> Mapping[str, Any]:
        raise RuntimeError("backend unreachable")

    app = _root_app(smoke_command.make_app(read_outputs=broken))
    result = smoke("--stack", "local", "--junit", str(tmp_path / "r.xml"), app=app)
    assert result.exit_code == 2 and "RuntimeError: backend unreachable" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    # With --base-url it falls back to the stack file (with a warning) and still checks.
    monkeypatch.chdir(ROOT)
    result = smoke("--stack", "local", "--base-url", standin.base_url, "--retries", "0", "--json",
                   "--junit", str(tmp_path / "r.xml"), app=app)  # fmt: skip
    assert "using Pulumi.local.yaml" in result.output
    assert result.exit_code == 1  # the default stand-in reports other versions than the stack file


# --------------------------------------------------------------------------- bad input: exit 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "staging"], "needs the Pulumi engine"),
        (["--stack", "x", "--service", "auth"], "expected NAME=URL"),
        (["--stack", "x", "--service", "auth=ftp://host/health"], "not an http(s) URL"),
        (["--stack", "x", "--base-url", "localhost:8080", "--outputs", "{outputs}"], "--base-url: not an http(s) URL"),
        (["--stack", "x", "--outputs", "{missing}"], "cannot read outputs file"),
        (["--stack", "x", "--outputs", "{not_json}"], "not valid JSON"),
        (["--stack", "x", "--outputs", "{no_services}"], "no `services` output"),
        (["--stack", "x", "--outputs", "{bad_record}"], "services.auth.healthUrl: missing"),
        (["--stack", "x", "--service", "a=http://h/health", "--retries", "-1"], "--retries must be >= 0"),
        (["--stack", "x", "--service", "a=http://h/health", "--timeout", "0"], "--timeout must be > 0"),
        (["--stack", "nope", "--base-url", "http://127.0.0.1:9"], "no Pulumi.nope.yaml"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str, tmp_path: Path, outputs_file: Path) -> None:
    files = {
        "outputs": outputs_file,
        "missing": tmp_path / "missing.json",
        "not_json": tmp_path / "not.json",
        "no_services": tmp_path / "empty.json",
        "bad_record": tmp_path / "bad.json",
    }
    files["not_json"].write_text("{oops")
    files["no_services"].write_text("{}")
    files["bad_record"].write_text(json.dumps({"services": {"auth": {"activeColor": "blue"}}}))
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    result = smoke(*args, "--junit", str(tmp_path / "r.xml"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "r.xml").exists()


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)


def test_usage_errors_exit_2_without_traceback() -> None:
    """Run as processes: what a user sees, stderr included."""
    azora = str(Path(sys.executable).parent / "azora")
    no_engine = _run(sys.executable, "-m", "azora.commands.smoke", "--stack", "staging")
    assert no_engine.returncode == 2 and "Pulumi engine" in " ".join(no_engine.stderr.split())
    completed = _run(azora, "smoke", "--stack", "s", "--service", "x")
    assert completed.returncode == 2, completed
    assert "Traceback" not in completed.stdout + completed.stderr
    # The other usage errors in process (the same entry, without two more interpreter starts).
    for args in (["--base-url", "http://x"], ["--stack", "s", "--retries", "many"]):
        result = CliRunner().invoke(azora_app, ["smoke", *args])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unwritable_junit_path_exits_2(standin: StandIn, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = smoke("--stack", "s", "--service", f"auth={standin.base_url}/auth/health", "--junit",
                   str(blocker / "r.xml"))  # fmt: skip
    assert result.exit_code == 2 and "cannot write JUnit report" in result.output


# --------------------------------------------------------------------------- the pure parts


def test_retry_delays_double_and_are_capped() -> None:
    calls: list[str] = []
    slept: list[float] = []

    def fetch(url: str, timeout: float) -> Reply:
        calls.append(url)
        return Reply(503, "") if len(calls) < 4 else Reply(200, '{"status": "ok"}')

    result = check_target(Target("auth", "http://a/health"), RetryPolicy(retries=5, backoff=0.5), fetch, slept.append)
    assert result.ok and result.attempts == 4
    assert slept == [0.5, 1.0, 2.0]
    assert RetryPolicy(backoff=4).delay(5) == 10.0  # capped


def test_targets_from_outputs_without_base_url_use_the_in_cluster_urls() -> None:
    outputs = standin_outputs()
    active = {t.service: t for t in targets_from_outputs(outputs, None, preview=False)}
    assert active["auth"] == Target("auth", "http://auth.azora-test.svc.cluster.local:8080/health", "1.0.0", "blue")
    preview = {t.service: t for t in targets_from_outputs(outputs, None, preview=True)}
    assert preview["web"] == Target(
        "web", "http://web-preview.azora-test.svc.cluster.local:8080/api/health", "1.1.0", "green"
    )


def test_targets_from_outputs_with_a_base_url() -> None:
    targets = {t.service: t.url for t in targets_from_outputs(standin_outputs(), "http://gw:80/", preview=False)}
    assert targets["web"] == "http://gw:80/web/api/health"
    assert targets["api-gateway"] == "http://gw:80/api-gateway/health"


def test_preview_skips_services_with_one_colour() -> None:
    outputs = standin_outputs()
    for record in outputs["services"].values():
        record["previewService"] = ""
    outputs["services"]["auth"]["previewService"] = "auth-preview"
    assert [t.service for t in targets_from_outputs(outputs, None, preview=True)] == ["auth"]
    outputs["services"]["auth"]["previewService"] = ""
    with pytest.raises(SmokeInputError, match="no service has a preview Service"):
        targets_from_outputs(outputs, None, preview=True)


def test_outputs_from_config_match_the_program_export_shape() -> None:
    outputs = outputs_from_config(load_stack_file(ROOT / "Pulumi.staging.yaml"))
    web = outputs["services"]["web"]
    assert set(web) == {"activeColor", "activeService", "previewService", "versions", "healthUrl", "publicUrl"}
    assert web["healthUrl"].startswith("http://web.azora-staging.svc.cluster.local:")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, '{"status": "ok", "version": "1.0.0", "colour": "blue"}'), None),
        (Reply(200, "OK"), None),  # plain-text health endpoints are fine
        (Reply(200, '{"status": "DOWN"}'), "reports status 'DOWN'"),
        (Reply(302, "", "/login"), "HTTP 302, redirected to /login"),
        (Reply(500, '{"error": "db down"}'), 'HTTP 500: {"error": "db down"}'),
        (Reply(200, '{"version": "0.9.0"}'), "version 0.9.0, expected 1.0.0"),
        (Reply(200, '{"version": "1.0.0", "color": "green"}'), "colour green, expected blue"),
    ],
)
def test_evaluate(reply: Reply, error: str | None) -> None:
    assert evaluate(Target("auth", "http://a", "1.0.0", "blue"), reply)[0] == error


def test_targets_from_urls_checks_urls() -> None:
    assert targets_from_urls({"auth": "https://a/health"}) == [Target("auth", "https://a/health")]
    with pytest.raises(SmokeInputError, match="auth: not an http"):
        targets_from_urls({"auth": "a/health"})


# --------------------------------------------------------------------------- through the mounted `azora` command
# Mirrors the staging stack's outputs (its versions and colours) in the stand-in.

STAGING_OUTPUTS = outputs_from_config(load_stack_file(ROOT / "Pulumi.staging.yaml"))
STAGING_FAST = ["--retries", "2", "--backoff", "0.01", "--timeout", "2"]


def _smoke(base_url: str, tmp_path: Path, *extra: str) -> tuple[int, dict, ET.Element]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(STAGING_OUTPUTS))
    report = tmp_path / "smoke.xml"
    result = CliRunner().invoke(
        azora_app,
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
            *STAGING_FAST,
            *extra,
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout), ET.parse(report).getroot()


def test_healthy_stand_in_passes_and_reports_every_service(tmp_path: Path) -> None:
    with run_standin(services_from_outputs(STAGING_OUTPUTS), lifetime=60) as standin:
        code, report, junit = _smoke(standin.base_url, tmp_path)
    assert code == 0
    cases = junit.iter("testcase")
    assert sorted(case.get("name", "") for case in cases) == sorted(STAGING_OUTPUTS["services"])
    assert not list(junit.iter("failure"))
    assert report


def test_one_broken_service_fails_the_run_and_is_named(tmp_path: Path) -> None:
    with run_standin(services_from_outputs(STAGING_OUTPUTS), lifetime=60, unhealthy={"payment"}) as standin:
        code, _, junit = _smoke(standin.base_url, tmp_path)
        hits = standin.health_hits("payment")
    assert code == 1
    failed = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None]
    assert failed == ["payment"]
    assert hits == 3  # first attempt plus two retries


def test_a_flaky_service_recovers_within_the_retries() -> None:
    with run_standin(services_from_outputs(STAGING_OUTPUTS), lifetime=60, flaky={"auth": 2}) as standin:
        targets = [
            t for t in targets_from_outputs(STAGING_OUTPUTS, standin.base_url, preview=False) if t.service == "auth"
        ]
        [result] = run_checks(targets, RetryPolicy(retries=3, backoff=0.01, timeout=2))
    assert result.ok and result.attempts == 3


def test_the_preview_services_report_the_idle_colour() -> None:
    with run_standin(services_from_outputs(STAGING_OUTPUTS), lifetime=60) as standin:
        targets = targets_from_outputs(STAGING_OUTPUTS, standin.base_url, preview=True)
        results = run_checks(targets, RetryPolicy(retries=0, timeout=2))
    web = next(r for r in results if r.target.service == "web")
    assert web.ok and (web.colour, web.version) == ("green", "2.4.0")


def test_bad_input_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        azora_app, ["smoke", "--stack", "staging", "--base-url", "not a url", "--outputs", "/nope.json"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
