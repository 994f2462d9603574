"""`azora promote` with metric gates, on a copy of the real `Pulumi.local.yaml` (whose stack
gates every service after the switch: error-ratio and latency-p95).

The engine is the recorder of tests/unit/test_release_edits.py; the gates are the product's
plan (azora.gates.plan.gate) and run_gate on recorded series (tests/unit/gates_support.py),
so each verdict below is what the gate engine decided on those numbers. What is checked: the
updates the workflow applied, their messages, and the status the stack file records.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from azora import release
from azora.commands import release as command
from azora.config.base import Color
from azora.config.model import StackConfig
from azora.errors import AzoraError, ExitCode
from azora.gates import GateConfigError, GateResult, QueryResult, check_queries, render_query
from azora.gates.plan import POST, PRE, gate
from tests.unit.gates_support import Clock, Sample, measure
from tests.unit.test_release_edits import FileTarget, changed_lines

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
AT = "2026-12-01T12:00:00+00:00"
EARLIER = "2026-11-30T09:00:00+00:00"
# The last verified revision of web before these tests: blue 2.4.0.
VERIFIED_BEFORE = {"color": "blue", "version": "2.4.0", "at": EARLIER}

HEALTHY = {"error-ratio": [0.0, 0.002, 0.0, 0.0, 0.001], "latency-p95": [0.012, 0.0153, 0.011, 0.02, 0.013]}
# error-ratio fails at its 2nd measurement, which stops latency-p95 after its 1st.
FAILING = {"error-ratio": [0.0, 0.3125], "latency-p95": [0.012]}
QUIET = {"error-ratio": [0.0] * 5, "latency-p95": [0.01] * 5}  # healthy values, with requests={POST: 4}
HEALTHY_LINE = (
    "postPromotion Successful: error-ratio Successful [0, 0.002, 0, 0, 0.001]; "
    "latency-p95 Successful [0.012, 0.0153, 0.011, 0.02, 0.013]"
)


class RecordedGates:
    """release.Gates on recorded series: the product's plan for each phase, run by run_gate on
    a recorded Prometheus and a clock that never sleeps. `series` holds each phase's samples by
    check name and `requests` each phase's request count per window; the preflight runs the
    product's check_queries against `check` below, which answers like PrometheusClient.check
    (an empty result, or a GateConfigError for the key in `rejects`, as for Prometheus's bad_data)."""

    def __init__(
        self,
        series: dict[str, dict[str, Sequence[Sample]]] | None = None,
        requests: dict[str, float] | None = None,
        rejects: str | None = None,
    ) -> None:
        self.series = series or {}
        self.requests = requests or {}
        self.rejects = rejects
        self.checked: list[str] = []  # key paths of the queries the preflight ran
        self.ran: list[tuple[str, Color]] = []  # (gate name, colour under test)

    def preflight(self, config: StackConfig, service: str, old: Color, new: Color) -> None:
        for phase in (PRE, POST):
            planned = gate(config, service, phase, new)
            if planned:
                check_queries(planned.checks, self, planned.values)

    def check(self, promql: str, key: str = "query") -> QueryResult:
        self.checked.append(key)
        if key == self.rejects:
            raise GateConfigError(
                f"{key}: Prometheus cannot use the query: bad_data: 1:43: parse error: unclosed left parenthesis",
                details=[promql],
            )
        return QueryResult()

    def run(self, config: StackConfig, service: str, phase: str, color: Color) -> GateResult | None:
        planned = gate(config, service, phase, color)
        if not planned:
            return None
        self.ran.append((planned.name, color))
        return measure(planned, self.series[phase], self.requests.get(phase, 240.0), Clock())


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileTarget:
    """A copy of Pulumi.local.yaml where web's blue 2.4.0 was verified, and green runs 2.5.0
    on full replicas (deployed, not yet promoted)."""
    path = tmp_path / "Pulumi.local.yaml"
    shutil.copy(ROOT / "Pulumi.local.yaml", path)
    edit(path, "    web: {activeColor: blue}\n", f"    web: {{activeColor: blue, verified: {flow(VERIFIED_BEFORE)}}}\n")
    monkeypatch.setattr(release, "now", lambda: NOW)
    target = FileTarget(path)
    release.deploy(target, "web", "2.5.0")
    return target


def flow(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{key}: '{value}'" for key, value in mapping.items()) + "}"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def with_pre_gate(target: FileTarget) -> None:
    """web's own pre-promotion gate: green's error ratio against blue's (a person's one-line edit)."""
    edit(
        target.stack_file,
        "      healthPath: /api/health\n",
        "      healthPath: /api/health\n      analysis: {prePromotion: [{builtin: relativeErrorRatio}]}\n",
    )


def web_status(target: FileTarget) -> dict[str, Any]:
    status: dict[str, Any] = target.azora_config()["status"]["web"]
    return status


def status_line(target: FileTarget) -> str:
    [line] = [line for line in target.stack_file.read_text().splitlines() if line.startswith("    web: {")]
    return line


DEPLOYED = "azora deploy web 2.5.0 to green (preview)"


# ----------------------------------------------------------------------------- after the switch


def test_a_passing_post_promotion_gate_records_the_verified_revision(local: FileTarget) -> None:
    gates = RecordedGates({POST: HEALTHY})
    result = release.promote(local, "web", gates=gates)
    assert (result.decision, result.switched_back) == ("verified", False)
    assert gates.ran == [("web postPromotion", "green")]
    assert gates.checked == [
        "azora:analysis.postPromotion[0].query",
        "azora:analysis.postPromotion[0].requestsQuery",
        "azora:analysis.postPromotion[1].query",
        "azora:analysis.postPromotion[1].requestsQuery",
    ]
    assert local.handle.updates == [
        DEPLOYED,
        "azora promote web to green",
        f"azora promote web: verified green 2.5.0 ({HEALTHY_LINE})",
    ]
    assert web_status(local) == {
        "activeColor": "green",
        "idleScaledUp": True,
        "promotedAt": AT,
        "analysis": {
            "color": "green",
            "version": "2.5.0",
            "at": AT,
            "postPromotion": "Successful",
            "decision": "verified",
        },
        "verified": {"color": "green", "version": "2.5.0", "at": AT},
    }
    # One line, edited in place: keys it had keep their place and quoting, new ones follow.
    assert status_line(local) == (
        f"    web: {{activeColor: green, verified: {{color: 'green', version: '2.5.0', at: '{AT}'}}, "
        f"idleScaledUp: true, promotedAt: '{AT}', analysis: {{color: green, version: 2.5.0, at: '{AT}', "
        "decision: verified, postPromotion: Successful}}"
    )
    assert result.analysis[POST]["verdict"] == "Successful"
    assert [c["measurements"][1]["value"] for c in result.analysis[POST]["checks"]] == [0.002, 0.0153]
    config = release.read_config(local)[1]
    assert config.status_of("web").is_verified(config.services["web"].versions)


def test_while_the_post_gate_runs_the_switch_is_recorded_as_analyzing(local: FileTarget) -> None:
    seen: list[tuple[dict[str, Any], list[str]]] = []
    later = NOW + dt.timedelta(hours=1)

    class Watching(RecordedGates):
        def run(self, config: StackConfig, service: str, phase: str, color: Color) -> GateResult | None:
            if phase == POST:  # the file as the switch left it, and what scale-down would do then
                seen.append((web_status(local), release.due_scale_downs(release.read_config(local)[1], later)))
            return super().run(config, service, phase, color)

    release.promote(local, "web", gates=Watching({POST: HEALTHY}))
    [(during, due)] = seen
    assert during["activeColor"] == "green" and during["idleScaledUp"] is True
    assert during["analysis"] == {"color": "green", "version": "2.5.0", "at": AT, "decision": "analyzing"}
    assert during["verified"] == VERIFIED_BEFORE  # not yet
    assert due == []  # the way back stays open while the gate runs, however late it is
    assert release.due_scale_downs(release.read_config(local)[1], later) == ["web"]  # once verified


def test_a_failing_post_promotion_gate_switches_back_with_the_evidence(local: FileTarget) -> None:
    gates = RecordedGates({POST: FAILING})
    result = release.promote(local, "web", gates=gates)
    assert (result.decision, result.switched_back) == ("switched-back", True)
    assert local.handle.updates == [
        DEPLOYED,
        "azora promote web to green",
        "azora promote web: switched back to blue "
        "(postPromotion Failed: error-ratio Failed [0, 0.312]; latency-p95 Stopped [0.012])",
    ]
    assert web_status(local) == {
        "activeColor": "blue",
        "idleScaledUp": True,
        "promotedAt": AT,
        "analysis": {
            "color": "green",
            "version": "2.5.0",
            "at": AT,
            "postPromotion": "Failed",
            "decision": "switched-back",
        },
        "verified": VERIFIED_BEFORE,  # blue 2.4.0 stays the verified revision, and is active again
    }
    config = release.read_config(local)[1]
    assert config.status_of("web").is_verified(config.services["web"].versions)
    [error_ratio, latency] = result.analysis[POST]["checks"]
    assert (error_ratio["verdict"], latency["verdict"]) == ("Failed", "Stopped")
    assert error_ratio["reason"] == "1 of 2 failed (failureLimit 0): 0.3125: result < 0.01 does not hold"


def test_query_errors_after_the_switch_switch_back_too(local: FileTarget) -> None:
    unreachable = ["error: connection refused"] * 3
    result = release.promote(
        local, "web", gates=RecordedGates({POST: {"error-ratio": unreachable, "latency-p95": [0.01] * 2}})
    )
    assert result.decision == "switched-back" and web_status(local)["activeColor"] == "blue"
    assert local.handle.updates[-1] == (
        "azora promote web: switched back to blue "
        "(postPromotion Failed: error-ratio Error [error, error, error]; latency-p95 Stopped [0.01, 0.01])"
    )
    assert web_status(local)["analysis"]["postPromotion"] == "Failed"


def test_an_inconclusive_post_gate_holds_and_keeps_the_old_colour_up(
    local: FileTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = release.promote(local, "web", gates=RecordedGates({POST: QUIET}, requests={POST: 4}))
    assert (result.decision, result.switched_back) == ("held", False)
    too_few = ", ".join(["too few requests"] * 5)
    assert local.handle.updates[1:] == [
        "azora promote web to green",
        f"azora promote web: held on green 2.5.0 (postPromotion Inconclusive: error-ratio Inconclusive [{too_few}]; "
        f"latency-p95 Inconclusive [{too_few}])",
    ]
    status = web_status(local)
    assert (status["activeColor"], status["idleScaledUp"], status["verified"]) == ("green", True, VERIFIED_BEFORE)
    assert status["analysis"]["decision"] == "held" and status["analysis"]["postPromotion"] == "Inconclusive"
    config = release.read_config(local)[1]
    assert config.replicas_for("web", "blue") == 1  # the old colour keeps its replicas (previewReplicas is 0)
    assert not config.status_of("web").is_verified(config.services["web"].versions)

    # auth is promoted without gates at the same time: its delay passes, web's hold does not.
    release.deploy(local, "auth", "1.5.1")
    release.promote(local, "auth")
    later = NOW + dt.timedelta(hours=1)
    assert release.due_scale_downs(release.read_config(local)[1], later) == ["auth"]
    monkeypatch.setattr(release, "now", lambda: later)
    assert release.scale_down(local) == ["auth"]
    assert web_status(local)["idleScaledUp"] is True
    assert release.read_config(local)[1].replicas_for("web", "blue") == 1


# ----------------------------------------------------------------------------- before the switch


def test_a_failing_pre_promotion_gate_switches_nothing(local: FileTarget) -> None:
    with_pre_gate(local)
    before = local.stack_file.read_text()
    gates = RecordedGates({PRE: {"relative-error-ratio": [0.0, 0.08]}, POST: HEALTHY})
    result = release.promote(local, "web", gates=gates)
    assert (result.decision, result.switched_back) == ("aborted", False)
    assert gates.ran == [("web prePromotion", "green")]  # the post gate never ran
    assert local.handle.updates == [DEPLOYED]  # no update at all
    assert local.stack_file.read_text() == before
    assert result.analysis[PRE]["verdict"] == "Failed" and POST not in result.analysis
    assert (
        result.analysis[PRE]["checks"][0]["reason"]
        == "1 of 2 failed (failureLimit 0): 0.08: result < 0.01 does not hold"
    )


def test_an_inconclusive_pre_promotion_gate_holds_before_the_switch(local: FileTarget) -> None:
    with_pre_gate(local)
    before = local.stack_file.read_text()
    gates = RecordedGates({PRE: {"relative-error-ratio": [0.0] * 5}}, requests={PRE: 12})
    result = release.promote(local, "web", gates=gates)
    assert (result.decision, result.switched_back) == ("held", False)
    assert local.handle.updates == [DEPLOYED] and local.stack_file.read_text() == before
    assert result.analysis[PRE]["verdict"] == "Inconclusive"
    assert result.analysis[PRE]["checks"][0]["reason"] == "5 of 5 had too little traffic (minRequests 20)"


def test_a_passing_pre_gate_is_in_the_switchs_message_and_the_status(local: FileTarget) -> None:
    with_pre_gate(local)
    gates = RecordedGates({PRE: {"relative-error-ratio": [0.0, 0.001, 0.0, 0.0, 0.0]}, POST: HEALTHY})
    result = release.promote(local, "web", gates=gates)
    assert result.decision == "verified"
    assert gates.ran == [("web prePromotion", "green"), ("web postPromotion", "green")]
    assert local.handle.updates[1:] == [
        "azora promote web to green (prePromotion Successful: relative-error-ratio Successful [0, 0.001, 0, 0, 0])",
        f"azora promote web: verified green 2.5.0 ({HEALTHY_LINE})",
    ]
    analysis = web_status(local)["analysis"]
    assert (analysis["prePromotion"], analysis["postPromotion"], analysis["decision"]) == (
        "Successful", "Successful", "verified",
    )  # fmt: skip


def test_a_query_prometheus_rejects_stops_promote_before_anything_is_applied(local: FileTarget) -> None:
    before = local.stack_file.read_text()
    gates = RecordedGates({POST: HEALTHY}, rejects="azora:analysis.postPromotion[1].query")
    with pytest.raises(GateConfigError, match=r"postPromotion\[1\]\.query: Prometheus cannot use the query") as refused:
        release.promote(local, "web", gates=gates)
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert gates.ran == [] and local.handle.updates == [DEPLOYED]
    assert local.stack_file.read_text() == before


def test_a_gate_that_could_never_fail_stops_promote_before_anything_is_applied(local: FileTarget) -> None:
    """failureLimit 5 of count 5 (the stack's defaults): the config model refuses the stack file, with
    the key path, when promote reads it; no gate runs and nothing is applied."""
    edit(local.stack_file, "      - builtin: latencyP95\n", "      - builtin: latencyP95\n        failureLimit: 5\n")
    before = local.stack_file.read_text()
    gates = RecordedGates({POST: HEALTHY})
    with pytest.raises(release.ReleaseError) as refused:
        release.promote(local, "web", gates=gates)
    assert str(refused.value) == (
        "Pulumi.local.yaml: azora:analysis.postPromotion[1].failureLimit: 5 must be below count 5: "
        "the check could never fail"
    )
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert gates.checked == [] and gates.ran == []
    assert local.handle.updates == [DEPLOYED] and local.stack_file.read_text() == before


def test_a_held_post_gate_is_left_by_promoting_again_which_switches_back(local: FileTarget) -> None:
    release.promote(local, "web", gates=RecordedGates({POST: QUIET}, requests={POST: 4}))
    assert web_status(local)["activeColor"] == "green"
    gates = RecordedGates({POST: HEALTHY})
    result = release.promote(local, "web", gates=gates)  # `azora promote --service web`, as the hold says
    assert (result.from_color, result.to_color, result.decision) == ("green", "blue", "verified")
    assert gates.ran == [("web postPromotion", "blue")]
    assert local.handle.updates[-2:] == [
        "azora promote web to blue",
        f"azora promote web: verified blue 2.4.0 ({HEALTHY_LINE})",
    ]
    assert web_status(local)["activeColor"] == "blue"


GATEWAY_CHECK = "      - {builtin: errorRatio, name: gateway-errors, service: api-gateway}\n"


def test_promoting_the_service_a_check_names_measures_its_new_colour_after_the_switch(local: FileTarget) -> None:
    # Its own window, so its query differs from the plain errorRatio check's (the same service and colour).
    own_window = GATEWAY_CHECK.replace("service: api-gateway}", "service: api-gateway, window: 30s}")
    edit(local.stack_file, "      - builtin: latencyP95\n", "      - builtin: latencyP95\n" + own_window)
    release.deploy(local, "api-gateway", "1.9.0")
    measured: list[str] = []

    class Rendering(RecordedGates):
        def run(self, config: StackConfig, service: str, phase: str, color: Color) -> GateResult | None:
            planned = gate(config, service, phase, color)
            measured.extend(render_query(c.query, planned.values) for c in planned.checks if c.name == "gateway-errors")
            return super().run(config, service, phase, color)

    result = release.promote(local, "api-gateway", gates=Rendering({POST: {**HEALTHY, "gateway-errors": [0.0] * 5}}))
    assert (result.to_color, result.decision) == ("green", "verified")
    [query] = measured
    assert 'service="api-gateway",color="green"' in query, query


def test_a_service_whose_gates_are_off_is_promoted_as_without_gates(local: FileTarget) -> None:
    edit(
        local.stack_file,
        "      healthPath: /api/health\n",
        "      healthPath: /api/health\n      analysis: {postPromotion: []}\n",
    )
    before = local.stack_file.read_text()
    gates = RecordedGates()
    result = release.promote(local, "web", gates=gates)
    assert (result.decision, result.analysis) == ("promoted", {})
    assert gates.ran == [] and gates.checked == []
    assert local.handle.updates == [DEPLOYED, "azora promote web to green"]
    assert changed_lines(before, local.stack_file.read_text()) == [
        f"-    web: {{activeColor: blue, verified: {flow(VERIFIED_BEFORE)}, idleScaledUp: true}}",
        f"+    web: {{activeColor: green, verified: {flow(VERIFIED_BEFORE)}, idleScaledUp: true, promotedAt: '{AT}'}}",
    ]


# ----------------------------------------------------------------------------- the CLI's exit codes


def _reported(result: release.PromoteResult, capsys: pytest.CaptureFixture[str]) -> tuple[AzoraError, dict[str, Any]]:
    with pytest.raises(AzoraError) as raised:
        command._report_promotion(result, True, {"stack": "local"})
    return raised.value, json.loads(capsys.readouterr().out)


def test_the_cli_exits_3_when_the_post_gate_switched_back(
    local: FileTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    result = release.promote(local, "web", gates=RecordedGates({POST: FAILING}))
    error, printed = _reported(result, capsys)
    assert isinstance(error, release.GateFailed) and error.exit_code == ExitCode.SWITCHED_BACK == 3
    assert str(error) == "web: the post-promotion check failed; switched back to blue"
    assert error.details == [
        "postPromotion Failed: error-ratio: 1 of 2 failed (failureLimit 0): 0.3125: result < 0.01 does not hold; "
        "latency-p95: stopped: another check decided the gate"
    ]
    assert (printed["result"], printed["stack"], printed["promotion"]["decision"]) == (
        "switched back", "local", "switched-back",
    )  # fmt: skip


def test_the_cli_exits_4_when_a_gate_holds(local: FileTarget, capsys: pytest.CaptureFixture[str]) -> None:
    result = release.promote(local, "web", gates=RecordedGates({POST: QUIET}, requests={POST: 4}))
    error, printed = _reported(result, capsys)
    assert error.exit_code == ExitCode.INCONCLUSIVE == 4
    assert str(error) == (
        "web: the post-promotion gate was inconclusive (too little traffic); green stays active and blue stays up "
        "(scale-down waits for a person): `azora promote --stack local --service web` switches back to blue; "
        "`azora scale-down --now --stack local --service web` keeps green unverified"
    )
    assert printed["result"] == "held"
    # Both ways out do what the message says.
    kept = release.scale_down(local, "web", force=True)
    assert kept == ["web"] and web_status(local)["activeColor"] == "green"
    config = release.read_config(local)[1]
    assert config.replicas_for("web", "blue") == 0 and not config.status_of("web").is_verified(
        config.services["web"].versions
    )


def test_the_cli_exits_4_when_the_pre_gate_holds_saying_nothing_switched(
    local: FileTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    with_pre_gate(local)
    result = release.promote(
        local, "web", gates=RecordedGates({PRE: {"relative-error-ratio": [0.0] * 5}}, requests={PRE: 12})
    )
    error, _ = _reported(result, capsys)
    assert error.exit_code == ExitCode.INCONCLUSIVE
    assert str(error) == (
        "web: the pre-promotion gate was inconclusive (too little traffic); nothing was switched (blue stays active); "
        "send traffic to the preview and promote again"
    )
    assert error.details == [
        "prePromotion Inconclusive: relative-error-ratio: 5 of 5 had too little traffic (minRequests 20)"
    ]


def test_the_cli_exits_1_when_the_pre_gate_failed(local: FileTarget, capsys: pytest.CaptureFixture[str]) -> None:
    with_pre_gate(local)
    result = release.promote(local, "web", gates=RecordedGates({PRE: {"relative-error-ratio": [0.08]}}))
    error, printed = _reported(result, capsys)
    assert isinstance(error, release.ReleaseError) and error.exit_code == ExitCode.FAILED == 1
    assert str(error) == "web: the pre-promotion gate failed on green; nothing was switched (blue stays active)"
    assert error.details == [
        "prePromotion Failed: relative-error-ratio: 1 of 1 failed (failureLimit 0): 0.08: result < 0.01 does not hold"
    ]
    assert printed["result"] == "aborted"


def test_the_cli_reports_a_verified_promotion_without_an_error(
    local: FileTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    result = release.promote(local, "web", gates=RecordedGates({POST: HEALTHY}))
    command._report_promotion(result, True, {"stack": "local"})
    printed = json.loads(capsys.readouterr().out)
    assert printed["result"] == "verified"
    assert printed["promotion"]["analysis"][POST]["verdict"] == "Successful"
