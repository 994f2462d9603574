"""From the config model to runnable gates (azora.gates.plan), on the real `Pulumi.local.yaml`:
key paths, the PromQL each check sends, schedules in seconds, the Prometheus address, and the
evidence line of a gate run on recorded series (tests/unit/gates_support.py's recorded
Prometheus, which tests/unit/test_promote_gates.py also runs its gates on)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from azora.config.errors import ConfigError
from azora.config.load import read_stack_file, validate_raw
from azora.config.model import StackConfig
from azora.gates import GateConfigError, Phase, render_query
from azora.gates.plan import POST, PRE, default_address, evidence_line, gate
from azora.gates.runner import gate_address
from tests.unit.gates_support import Clock, measure

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "Pulumi.local.yaml"
# The routes the built-in queries leave out on web: scrapes, the stand-in's controls, its health path.
WEB_ROUTES = 'route!~"/metrics|/__standin/.*|/api/health"'


# ----------------------------------------------------------------------------- the local stack


def local(edit: Callable[[dict[str, Any]], None] | None = None) -> StackConfig:
    raw, _ = read_stack_file(ROOT / SOURCE)
    raw = copy.deepcopy(raw)
    if edit is not None:
        edit(raw)
    return validate_raw(raw, SOURCE)


def web_analysis(analysis: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw["services"]["web"].__setitem__("analysis", analysis)


def _both(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        for one in edits:
            one(raw)

    return edit


def test_the_post_promotion_gate_of_web_on_the_local_stack() -> None:
    planned = gate(local(), "web", POST, "green")
    assert planned.name == "web postPromotion" and planned.phase == POST and bool(planned)
    assert planned.values == {"service": "web", "color": "green", "version": "2.4.0", "namespace": "azora-local"}
    assert [(c.name, c.key, c.success_condition) for c in planned.checks] == [
        ("error-ratio", "azora:analysis.postPromotion[0]", "result < 0.01"),
        ("latency-p95", "azora:analysis.postPromotion[1]", "result < 0.5"),
    ]
    for check in planned.checks:  # the stack's defaults, in seconds
        assert (check.interval, check.count, check.initial_delay) == (2.0, 5, 6.0)
        assert (check.failure_limit, check.consecutive_error_limit, check.min_requests) == (0, 2, 20.0)


def test_the_rendered_queries_read_the_colour_under_test_of_the_service_in_its_namespace() -> None:
    planned = gate(local(), "web", POST, "green")
    error_ratio, latency = planned.checks
    web_green = f'service="web",color="green",namespace="azora-local",{WEB_ROUTES}'
    assert render_query(error_ratio.query, planned.values) == (
        f'(sum(rate(azora_http_requests_total{{{web_green},code=~"5.."}}[20s])) or vector(0))'
        f" / sum(rate(azora_http_requests_total{{{web_green}}}[20s]))"
    )
    assert render_query(latency.query, planned.values) == (
        f"histogram_quantile(0.95, sum by (le) (rate(azora_http_request_duration_seconds_bucket{{{web_green}}}[20s])))"
    )
    for check in planned.checks:  # minRequests counts the same colour's user requests in the window
        assert render_query(check.requests_query or "", planned.values) == (
            f"sum(increase(azora_http_requests_total{{{web_green}}}[20s]))"
        )


def test_the_local_stack_has_no_pre_promotion_gate() -> None:
    planned = gate(local(), "web", PRE, "green")
    assert not planned and planned.checks == () and planned.name == "web prePromotion"


def test_a_services_own_gate_is_named_by_its_own_key_path() -> None:
    config = local(web_analysis({"prePromotion": [{"builtin": "errorRatio"}, {"builtin": "latencyP95"}]}))
    assert [c.key for c in gate(config, "web", PRE, "green").checks] == [
        "azora:services.web.analysis.prePromotion[0]",
        "azora:services.web.analysis.prePromotion[1]",
    ]
    # its postPromotion list is unset: the stack's, under the stack's key
    assert [c.key for c in gate(config, "web", POST, "green").checks] == [
        "azora:analysis.postPromotion[0]",
        "azora:analysis.postPromotion[1]",
    ]
    assert not gate(local(web_analysis({"postPromotion": []})), "web", POST, "green")


def _halves(query: str) -> tuple[str, str]:
    """`(<new colour's ratio>) - (<baseline's ratio>)` -> the two ratios."""
    assert query.startswith("(") and query.endswith(")")
    new, old = query[1:-1].split(") - (")
    return new, old


def test_relative_error_ratio_compares_the_colour_under_test_with_the_other_colour() -> None:
    config = local(web_analysis({"prePromotion": [{"builtin": "relativeErrorRatio"}]}))
    for under_test, baseline in (("green", "blue"), ("blue", "green")):
        planned = gate(config, "web", PRE, under_test)
        [check] = planned.checks
        assert check.name == "relative-error-ratio" and check.success_condition == "result < 0.01"
        # The baseline is written into the query as a literal; the colour under test stays a placeholder.
        new_template, old_template = _halves(check.query)
        assert 'color="{{color}}"' in new_template and f'color="{baseline}"' in old_template
        new, old = _halves(render_query(check.query, planned.values))
        assert f'service="web",color="{under_test}",namespace="azora-local",{WEB_ROUTES}' in new
        assert f'service="web",color="{baseline}",namespace="azora-local",{WEB_ROUTES}' in old
        assert f'color="{baseline}"' not in new and f'color="{under_test}"' not in old


GATEWAY_ROUTES = 'route!~"/metrics|/__standin/.*|/health"'  # api-gateway's healthPath, not web's
GATEWAY_CHECK = {"builtin": "errorRatio", "name": "gateway-errors", "service": "api-gateway"}


def _gateway_active(color: str, version: str) -> Callable[[dict[str, Any]], None]:
    """api-gateway active on `color`, which runs `version` (the other colour keeps 1.8.2)."""

    def edit(raw: dict[str, Any]) -> None:
        raw["services"]["api-gateway"]["versions"][color] = version
        raw["status"]["api-gateway"] = {"activeColor": color}

    return edit


def test_a_check_on_another_service_reads_its_active_colour_and_the_others_the_colour_under_test() -> None:
    gateway_first = web_analysis({"postPromotion": [GATEWAY_CHECK, {"builtin": "errorRatio"}]})
    planned = gate(local(gateway_first), "web", POST, "green")
    gateway, own = planned.checks
    assert planned.values == {"service": "web", "color": "green", "version": "2.4.0", "namespace": "azora-local"}
    # api-gateway is active on blue (Pulumi.local.yaml's status): its name and colour are literals.
    gateway_blue = f'service="api-gateway",color="blue",namespace="{{{{namespace}}}}",{GATEWAY_ROUTES}'
    assert gateway.query == (
        f'(sum(rate(azora_http_requests_total{{{gateway_blue},code=~"5.."}}[20s])) or vector(0))'
        f" / sum(rate(azora_http_requests_total{{{gateway_blue}}}[20s]))"
    )
    assert gateway.requests_query == f"sum(increase(azora_http_requests_total{{{gateway_blue}}}[20s]))"
    assert render_query(gateway.requests_query, planned.values) == (
        f'sum(increase(azora_http_requests_total{{service="api-gateway",color="blue",namespace="azora-local",'
        f"{GATEWAY_ROUTES}}}[20s]))"
    )
    # The gate's other check still reads web's colour under test.
    web_green = f'service="web",color="green",namespace="azora-local",{WEB_ROUTES}'
    assert render_query(own.query, planned.values) == (
        f'(sum(rate(azora_http_requests_total{{{web_green},code=~"5.."}}[20s])) or vector(0))'
        f" / sum(rate(azora_http_requests_total{{{web_green}}}[20s]))"
    )
    assert (gateway.key, own.key) == (
        "azora:services.web.analysis.postPromotion[0]",
        "azora:services.web.analysis.postPromotion[1]",
    )
    # The recorded Prometheus answers only the queries the plan rendered: both checks measure.
    result = measure(planned, {"gateway-errors": [0.0] * 5, "error-ratio": [0.001] * 5})
    assert result.verdict is Phase.SUCCESSFUL


def test_a_check_on_another_service_follows_its_status_to_green() -> None:
    query = 'sum(rate(upstream_failures_total{service="{{ service }}",color="{{color}}",version="{{version}}"}[1m]))'
    check_config = {"name": "upstream", "query": query, "successCondition": "result == 0", "service": "api-gateway"}
    config = local(_both(web_analysis({"postPromotion": [check_config]}), _gateway_active("green", "1.9.0")))
    assert config.status_of("api-gateway").active_color == "green"
    for under_test in ("green", "blue"):  # whichever colour of web is under test
        planned = gate(config, "web", POST, under_test)
        assert render_query(planned.checks[0].query, planned.values) == (
            'sum(rate(upstream_failures_total{service="api-gateway",color="green",version="1.9.0"}[1m]))'
        )
        assert planned.values["color"] == under_test and planned.values["service"] == "web"
    # The same check while api-gateway is active on blue: blue's version.
    blue = local(_both(web_analysis({"postPromotion": [check_config]}), _gateway_active("blue", "1.8.3")))
    planned = gate(blue, "web", POST, "green")
    assert render_query(planned.checks[0].query, planned.values) == (
        'sum(rate(upstream_failures_total{service="api-gateway",color="blue",version="1.8.3"}[1m]))'
    )


def test_a_built_in_check_on_another_service_switches_colour_with_its_status() -> None:
    config = local(_both(web_analysis({"postPromotion": [GATEWAY_CHECK]}), _gateway_active("green", "1.9.0")))
    planned = gate(config, "web", POST, "blue")
    [check] = planned.checks
    for query in (check.query, check.requests_query or ""):
        rendered = render_query(query, planned.values)
        assert 'service="api-gateway",color="green",namespace="azora-local"' in rendered
        assert 'color="blue"' not in rendered and 'service="web"' not in rendered
        assert GATEWAY_ROUTES in rendered and "/api/health" not in rendered


def test_a_relative_error_ratio_on_another_service_is_refused_with_its_key_path() -> None:
    """It would compare the other service's active colour with itself (0 whatever the ratio)."""
    check_config = {"builtin": "relativeErrorRatio", "service": "api-gateway"}
    with pytest.raises(ConfigError) as refused:
        local(web_analysis({"postPromotion": [check_config]}))
    assert "azora:services.web.analysis.postPromotion[0].service: relativeErrorRatio compares the promoted " in str(
        refused.value
    )


def test_schedules_are_in_seconds() -> None:
    config = local(
        web_analysis(
            {"postPromotion": [{"builtin": "latencyP95", "interval": "500ms", "initialDelay": "1.5m", "count": 3}]}
        )
    )
    [check] = gate(config, "web", POST, "blue").checks
    assert (check.interval, check.initial_delay, check.count) == (0.5, 90.0, 3)


def test_the_local_gate_measures_after_its_initial_delay_then_every_interval() -> None:
    clock = Clock()
    planned = gate(local(), "web", POST, "green")
    result = measure(planned, {"error-ratio": [0.0] * 5, "latency-p95": [0.01] * 5}, clock=clock)
    assert result.verdict is Phase.SUCCESSFUL
    for check in result.checks:
        assert [m.at for m in check.measurements] == [6.0, 8.0, 10.0, 12.0, 14.0]
    assert clock.sleeps == [6.0, 2.0, 2.0, 2.0, 2.0]  # both checks are due together


# ----------------------------------------------------------------------------- address


def _monitoring(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["monitoring"] = {**raw["monitoring"], **changes}

    return edit


def test_default_address_is_the_stacks_own_prometheus_service() -> None:
    assert default_address(local()) == "http://prometheus.azora-local-monitoring.svc.cluster.local:9090"
    chart = local(_monitoring(prometheus={"mode": "chart"}))
    assert default_address(chart) == "http://prometheus-operated.azora-local-monitoring.svc.cluster.local:9090"
    own_namespace = local(_monitoring(namespace="observability"))
    assert default_address(own_namespace) == "http://prometheus.observability.svc.cluster.local:9090"
    assert default_address(local(_monitoring(prometheus={"enabled": False}))) is None
    assert default_address(local(_monitoring(enabled=False))) is None


def test_gate_address_takes_the_flag_then_the_config_then_the_stacks_own() -> None:
    def with_address(raw: dict[str, Any]) -> None:
        raw["analysis"]["address"] = "https://metrics.example:9443"

    configured = local(with_address)
    assert gate_address(configured, "http://127.0.0.1:9090", SOURCE) == "http://127.0.0.1:9090"
    assert gate_address(configured, None, SOURCE) == "https://metrics.example:9443"
    assert gate_address(local(), None, SOURCE) == "http://prometheus.azora-local-monitoring.svc.cluster.local:9090"
    with pytest.raises(GateConfigError, match="azora:analysis has gates but no Prometheus to read") as refused:
        gate_address(local(_monitoring(enabled=False)), None, SOURCE)
    assert str(refused.value).startswith(f"{SOURCE}: ")


# ----------------------------------------------------------------------------- evidence


def test_evidence_line_of_a_passing_gate() -> None:
    planned = gate(local(), "web", POST, "green")
    result = measure(
        planned, {"error-ratio": [0.0, 0.002, 0.0, 0.0, 0.001], "latency-p95": [0.012, 0.0153, 0.011, 0.02, 0.013]}
    )
    assert evidence_line(result) == (
        "postPromotion Successful: error-ratio Successful [0, 0.002, 0, 0, 0.001]; "
        "latency-p95 Successful [0.012, 0.0153, 0.011, 0.02, 0.013]"
    )


def test_evidence_line_of_a_failed_gate_shows_the_stopped_check() -> None:
    planned = gate(local(), "web", POST, "green")
    result = measure(planned, {"error-ratio": [0.0, 0.3125], "latency-p95": [0.012345]})
    assert result.verdict is Phase.FAILED
    # three significant digits; the latency check was stopped when the error ratio failed the gate
    assert evidence_line(result) == (
        "postPromotion Failed: error-ratio Failed [0, 0.312]; latency-p95 Stopped [0.0123]"
    )


def test_evidence_line_of_an_inconclusive_gate_and_of_query_errors() -> None:
    planned = gate(local(), "web", POST, "green")
    quiet = measure(planned, {"error-ratio": [0.0] * 5, "latency-p95": [0.01] * 5}, requests=4)
    assert quiet.verdict is Phase.INCONCLUSIVE
    assert evidence_line(quiet) == (
        "postPromotion Inconclusive: error-ratio Inconclusive [" + ", ".join(["too few requests"] * 5) + "]; "
        "latency-p95 Inconclusive [" + ", ".join(["too few requests"] * 5) + "]"
    )
    failing = ["error: connection refused"] * 3
    errors = measure(planned, {"error-ratio": failing, "latency-p95": [0.01] * 3})
    assert errors.verdict is Phase.FAILED  # three errors in a row: over consecutiveErrorLimit 2
    assert evidence_line(errors) == (
        "postPromotion Failed: error-ratio Error [error, error, error]; latency-p95 Stopped [0.01, 0.01]"
    )
