"""Checks and gates on recorded series: tri-state verdicts that fail closed, with a fake clock."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

from azora.errors import ExitCode
from azora.gates import GateConfigError, Measurement, MetricCheck, Phase, QueryResult, run_check, run_gate
from tests.unit.gates_support import Clock, Sample, answer

VALUES = {"service": "web", "color": "green", "version": "2.0.0", "namespace": "azora"}
NAN, INF = math.nan, math.inf


class Recorded:
    """Answers each query with the next sample of its recorded series; `latency` seconds each."""

    def __init__(self, series: dict[str, Sequence[Sample]], clock: Clock, latency: float = 0.0) -> None:
        self.series = {query: list(samples) for query, samples in series.items()}
        self.clock, self.latency = clock, latency
        self.asked: list[str] = []

    def query(self, promql: str) -> QueryResult:
        self.asked.append(promql)
        self.clock.now += self.latency
        return answer(self.series[promql].pop(0))


def run(check: MetricCheck, series: dict[str, Sequence[Sample]], latency: float = 0.0) -> tuple[Any, Clock, Recorded]:
    clock = Clock()
    client = Recorded(series, clock, latency)
    seen: list[Measurement] = []
    result = run_check(check, client, VALUES, on_measurement=seen.append, clock=clock, sleep=clock.sleep)
    assert seen == result.measurements  # every measurement went to the callback as it happened
    return result, clock, client


def ratio(**options: Any) -> MetricCheck:
    settings: dict[str, Any] = {"interval": 10, "count": 5, **options}
    return MetricCheck("error-ratio", 'ratio{color="{{color}}"}', "result < 0.01", **settings)


Q = 'ratio{color="green"}'
R = 'requests{color="green"}'


def phases(result: Any) -> list[str]:
    return [str(m.phase) for m in result.measurements]


def test_a_healthy_series_passes_after_all_measurements_on_schedule() -> None:
    result, clock, client = run(ratio(), {Q: [0.001, 0.002, 0.0, 0.004, 0.0099]})
    assert result.verdict is Phase.SUCCESSFUL
    assert result.reason == "5 of 5 measurements passed (0 failed, 0 errored)"
    assert [m.value for m in result.measurements] == [0.001, 0.002, 0.0, 0.004, 0.0099]
    assert [m.at for m in result.measurements] == [0, 10, 20, 30, 40]
    assert [m.index for m in result.measurements] == [1, 2, 3, 4, 5]
    assert result.measurements[1].message == "0.002: result < 0.01 holds"
    assert clock.sleeps == [10, 10, 10, 10]
    assert client.asked == [Q] * 5  # the placeholder was filled


def test_slow_queries_do_not_shift_the_schedule() -> None:
    result, clock, _ = run(ratio(count=3), {Q: [0.0, 0.0, 0.0]}, latency=2.5)
    assert [m.at for m in result.measurements] == [0, 10, 20]  # when each measurement started
    assert clock.sleeps == [7.5, 7.5]
    late, clock, _ = run(ratio(count=3), {Q: [0.0, 0.0, 0.0]}, latency=12)  # slower than the interval
    assert [m.at for m in late.measurements] == [0, 12, 24] and clock.sleeps == []


def test_failures_beyond_the_limit_fail_and_stop_early() -> None:
    result, clock, client = run(ratio(failure_limit=1), {Q: [0.001, 0.05, 0.002, 0.2, 0.0]})
    assert result.verdict is Phase.FAILED
    assert phases(result) == ["Successful", "Failed", "Successful", "Failed"]  # the 5th never ran
    assert result.reason == "2 of 4 failed (failureLimit 1): 0.2: result < 0.01 does not hold"
    assert len(client.asked) == 4 and clock.sleeps == [10, 10, 10]


def test_failures_within_the_limit_pass() -> None:
    result, _, _ = run(ratio(failure_limit=1), {Q: [0.001, 0.05, 0.002, 0.0, 0.0]})
    assert result.verdict is Phase.SUCCESSFUL
    assert result.reason == "4 of 5 measurements passed (1 failed, 0 errored)"


def test_an_empty_result_is_a_failed_measurement_never_a_pass() -> None:
    result, _, client = run(ratio(), {Q: [None, 0.0, 0.0, 0.0, 0.0]})
    assert result.verdict is Phase.FAILED
    [empty] = result.measurements
    assert (empty.value, empty.phase) == (None, Phase.FAILED)
    assert empty.message == "empty result: no series matched (no data is never a pass)"
    assert len(client.asked) == 1


def test_nan_is_a_failed_measurement() -> None:
    result, _, _ = run(ratio(failure_limit=1), {Q: [NAN, 0.0, NAN]})
    assert result.verdict is Phase.FAILED
    assert phases(result) == ["Failed", "Successful", "Failed"]
    assert result.measurements[0].message == "NaN (no data in the window?): never a pass"


def test_infinity_is_judged_by_the_condition() -> None:
    failed, _, _ = run(ratio(count=1), {Q: [INF]})
    assert failed.verdict is Phase.FAILED and failed.measurements[0].message == "+Inf: result < 0.01 does not hold"
    high = MetricCheck("throughput", "rps", "result > 100", count=1)
    passed, _, _ = run(high, {"rps": [INF]})
    assert passed.verdict is Phase.SUCCESSFUL and passed.measurements[0].value == INF


def test_too_little_traffic_is_inconclusive_and_holds() -> None:
    check = ratio(count=3, min_requests=10, requests_query='requests{color="{{color}}"}')
    result, _, client = run(check, {R: [3, None, 40], Q: [0.0, None, 0.0]})
    assert result.verdict is Phase.INCONCLUSIVE
    assert phases(result) == ["Inconclusive", "Inconclusive", "Successful"]
    assert [m.requests for m in result.measurements] == [3, 0, 40]  # no series: no requests
    assert result.measurements[0].message == "0 on 3 requests, below minRequests 10"
    assert result.measurements[1].message == "no value on 0 requests, below minRequests 10"
    assert result.reason == "2 of 3 had too little traffic (minRequests 10)"
    assert client.asked == [R, Q] * 3
    gate = run_gate(
        [check], Recorded({R: [0, 0, 0], Q: [NAN, NAN, NAN]}, clock := Clock()), VALUES, clock=clock, sleep=clock.sleep
    )
    assert (gate.verdict, gate.decision, gate.exit_code) == (Phase.INCONCLUSIVE, "hold", ExitCode.INCONCLUSIVE)


def test_a_failure_after_low_traffic_still_fails() -> None:
    check = ratio(count=3, min_requests=10, requests_query='requests{color="{{color}}"}')
    result, _, _ = run(check, {R: [2, 50, 50], Q: [0.5, 0.3, 0.0]})
    assert result.verdict is Phase.FAILED
    assert phases(result) == ["Inconclusive", "Failed"]


def test_errors_in_a_row_beyond_the_limit_are_an_error() -> None:
    result, _, client = run(ratio(consecutive_error_limit=2), {Q: [0.0, "error: timeout", "error: x", "error: y", 0.0]})
    assert result.verdict is Phase.ERROR
    assert phases(result) == ["Successful", "Error", "Error", "Error"]
    assert result.reason == "3 query errors in a row (consecutiveErrorLimit 2): y"
    assert len(client.asked) == 4
    gate = run_gate(
        [ratio(count=1)], Recorded({Q: ["error: down"]}, clock := Clock()), VALUES, clock=clock, sleep=clock.sleep
    )
    assert gate.verdict is Phase.FAILED  # Error fails the gate closed
    assert (gate.decision, gate.exit_code) == ("abort", ExitCode.FAILED)


def test_errors_within_the_limit_are_tolerated_but_never_count_as_passes() -> None:
    series: list[Sample] = ["error: a", "error: b", 0.0, "error: c", 0.0]
    result, _, _ = run(ratio(consecutive_error_limit=2), {Q: series})
    assert result.verdict is Phase.SUCCESSFUL
    assert result.reason == "2 of 5 measurements passed (0 failed, 3 errored)"


def test_every_measurement_errored_is_an_error_not_a_pass() -> None:
    result, _, _ = run(ratio(count=3, consecutive_error_limit=5), {Q: ["error: a", "error: b", "error: c"]})
    assert result.verdict is Phase.ERROR
    assert result.reason == "every measurement errored: c"


def test_no_successful_measurement_fails() -> None:
    check = ratio(count=3, failure_limit=1, consecutive_error_limit=1)
    result, _, _ = run(check, {Q: ["error: a", None, "error: b"]})
    assert result.verdict is Phase.FAILED
    assert result.reason == "no measurement succeeded (1 failed, 2 errored)"


def test_a_requests_query_error_is_an_error_measurement() -> None:
    check = ratio(count=2, min_requests=10, requests_query='requests{color="{{color}}"}')
    result, _, client = run(check, {R: ["error: refused", 20], Q: [0.0]})
    assert phases(result) == ["Error", "Successful"]
    assert result.measurements[0].message == "requests query: refused"
    assert client.asked == [R, R, Q]  # the metric is not asked when the count failed
    assert result.verdict is Phase.SUCCESSFUL


def test_a_gate_interleaves_its_checks_and_reports_each_measurement_in_order() -> None:
    latency = MetricCheck("latency", "p95", "result < 0.5", interval=15, count=2)
    clock = Clock()
    client = Recorded({Q: [0.0, 0.0, 0.0], "p95": [0.2, 0.3]}, clock)
    seen: list[tuple[str, float, float | None]] = []
    gate = run_gate(
        [ratio(count=3), latency],
        client,
        VALUES,
        name="postPromotion",
        on_measurement=lambda m: seen.append((m.check, m.at, m.value)),
        clock=clock,
        sleep=clock.sleep,
    )
    assert seen == [
        ("error-ratio", 0, 0.0),
        ("latency", 0, 0.2),
        ("error-ratio", 10, 0.0),
        ("latency", 15, 0.3),
        ("error-ratio", 20, 0.0),
    ]
    assert clock.now - 1000 == 20  # 20 s, not 20 + 15 run one after the other
    assert (gate.verdict, gate.decision, gate.exit_code) == (Phase.SUCCESSFUL, "proceed", ExitCode.OK)
    assert gate.reason == "2 of 2 checks passed"


def test_a_failing_check_stops_the_gate_and_the_evidence_is_compact() -> None:
    latency = MetricCheck("latency", "p95", "result < 0.5", interval=10, count=3, min_requests=5, requests_query="n")
    clock = Clock()
    client = Recorded({Q: [0.001234567, 0.0625], "p95": [0.123456], "n": [8.0 / 3]}, clock)
    gate = run_gate([ratio(count=3), latency], client, VALUES, name="postPromotion", clock=clock, sleep=clock.sleep)
    assert gate.verdict is Phase.FAILED
    assert gate.reason == "error-ratio: 1 of 2 failed (failureLimit 0): 0.0625: result < 0.01 does not hold"
    assert [r.verdict for r in gate.checks] == [Phase.FAILED, None]  # latency was stopped unfinished
    evidence = gate.as_dict(decision="switched back")
    assert evidence == {
        "gate": "postPromotion",
        "verdict": "Failed",
        "decision": "switched back",
        "checks": [
            {
                "name": "error-ratio",
                "condition": "result < 0.01",
                "verdict": "Failed",
                "reason": "1 of 2 failed (failureLimit 0): 0.0625: result < 0.01 does not hold",
                "measurements": [
                    {"t": 0, "value": 0.001235, "phase": "Successful"},
                    {"t": 10, "value": 0.0625, "phase": "Failed", "message": "0.0625: result < 0.01 does not hold"},
                ],
            },
            {
                "name": "latency",
                "condition": "result < 0.5",
                "verdict": "Stopped",
                "reason": "stopped: another check decided the gate",
                "measurements": [
                    {
                        "t": 0,
                        "value": 0.1235,
                        "phase": "Inconclusive",
                        "requests": 2.7,
                        "message": "0.123456 on 2.66667 requests, below minRequests 5",
                    }
                ],
            },
        ],
    }
    text = json.dumps(evidence, allow_nan=False)  # strict JSON: no bare NaN or Infinity
    assert len(text) < 1000


def test_non_finite_values_are_strings_in_the_evidence() -> None:
    clock = Clock()
    gate = run_gate(
        [ratio(count=2, failure_limit=1)], Recorded({Q: [NAN, -INF]}, clock), VALUES, clock=clock, sleep=clock.sleep
    )
    measurements = gate.as_dict()["checks"][0]["measurements"]
    assert [(m["value"], m["phase"]) for m in measurements] == [("NaN", "Failed"), ("-Inf", "Successful")]
    assert gate.verdict is Phase.SUCCESSFUL
    json.dumps(measurements, allow_nan=False)


def test_long_messages_are_capped_in_the_evidence() -> None:
    clock = Clock()
    gate = run_gate(
        [ratio(count=1)], Recorded({Q: ["error: " + "x" * 500]}, clock), VALUES, clock=clock, sleep=clock.sleep
    )
    [measurement] = gate.as_dict()["checks"][0]["measurements"]
    assert len(measurement["message"]) == 120 and measurement["message"].endswith("…")
    assert measurement["value"] is None and measurement["phase"] == "Error"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"failure_limit": 5}, 'check "error-ratio".failureLimit 5 must be below count 5: the check could never fail'),
        ({"min_requests": 10}, 'check "error-ratio".minRequests needs a requests query'),
        ({"interval": -1}, 'check "error-ratio".interval is out of range'),
        ({"count": 0}, 'check "error-ratio".count is out of range'),
        ({"consecutive_error_limit": -1}, "consecutiveErrorLimit is out of range"),
        ({"key": "services.web.analysis.postPromotion[0]", "count": 0}, "services.web.analysis.postPromotion[0].count"),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(GateConfigError) as caught:
        ratio(**options)
    assert message in str(caught.value)


def test_a_bad_condition_names_the_key_path() -> None:
    with pytest.raises(GateConfigError) as caught:
        MetricCheck("x", "q", "result <", key="services.web.analysis.prePromotion[1]")
    assert str(caught.value) == (
        'services.web.analysis.prePromotion[1].successCondition "result <": expected a number at column 9'
    )


def test_gate_config_errors_come_before_any_query() -> None:
    clock = Clock()
    client = Recorded({}, clock)
    for checks, message in [
        ([], "postPromotion: a gate needs at least one check"),
        ([ratio(), ratio()], "postPromotion: check names must be unique; repeated: error-ratio"),
        (
            [ratio(), MetricCheck("p", 'x{a="{{colour}}"}', "result < 1")],
            'check "p".query: unknown placeholder {{colour}}',
        ),
    ]:
        with pytest.raises(GateConfigError) as caught:
            run_gate(checks, client, VALUES, name="postPromotion", clock=clock, sleep=clock.sleep)
        assert message in str(caught.value)
    assert client.asked == []
