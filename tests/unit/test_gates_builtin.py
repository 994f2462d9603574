"""Built-in checks: their PromQL, on the series and labels the stand-in really exports."""

from __future__ import annotations

import re

import pytest

from azora.gates import GateConfigError, render_query
from azora.gates.builtin import (
    DURATION_BUCKET,
    REQUESTS_TOTAL,
    Schedule,
    error_ratio,
    error_ratio_query,
    latency_p95,
    relative_error_ratio,
    requests_query,
)
from azora.standin.metrics import Metrics

VALUES = {"service": "web", "color": "green", "version": "2.0.0", "namespace": "azora"}
TRAFFIC = 'service="web",color="green",route!~"/metrics|/__standin/.*"'


def test_error_ratio_query_counts_5xx_of_user_traffic_with_a_zero_fallback() -> None:
    check = error_ratio()
    assert render_query(check.query, VALUES) == (
        f'(sum(rate(azora_http_requests_total{{{TRAFFIC},code=~"5.."}}[1m])) or vector(0))'
        f" / sum(rate(azora_http_requests_total{{{TRAFFIC}}}[1m]))"
    )
    assert check.condition.source == "result < 0.01"
    assert (check.interval, check.count, check.failure_limit, check.consecutive_error_limit) == (10, 6, 0, 2)
    assert check.min_requests == 20
    assert check.requests_query is not None
    assert render_query(check.requests_query, VALUES) == f"sum(increase(azora_http_requests_total{{{TRAFFIC}}}[1m]))"


def test_latency_p95_reads_the_histogram() -> None:
    check = latency_p95(0.25, schedule=Schedule(window="2m", health_path="/api/health"))
    assert render_query(check.query, VALUES) == (
        "histogram_quantile(0.95, sum by (le) (rate(azora_http_request_duration_seconds_bucket"
        '{service="web",color="green",route!~"/metrics|/__standin/.*|/api/health"}[2m])))'
    )
    assert check.condition(0.2) and not check.condition(0.25)


def test_health_paths_are_regex_escaped_then_string_escaped() -> None:
    query = requests_query(health_path="/health.json")
    assert 'route!~"/metrics|/__standin/.*|/health\\\\.json"' in query  # PromQL text: /health\\.json


def test_namespace_matcher_is_optional() -> None:
    query = render_query(error_ratio_query(namespace=True), VALUES)
    assert query.count('namespace="azora"') == 2


def test_relative_check_subtracts_the_baseline_colour() -> None:
    check = relative_error_ratio("blue", 0.02)
    rendered = render_query(check.query, VALUES)
    new, _, old = rendered.partition(") - (")
    assert 'color="green"' in new and 'color="blue"' not in new
    assert 'color="blue"' in old and 'color="green"' not in old
    # The baseline's denominator has no fallback: no traffic on blue makes the whole result empty.
    assert old.endswith(
        '/ sum(rate(azora_http_requests_total{service="web",color="blue",route!~"/metrics|/__standin/.*"}[1m])))'
    )
    assert check.condition.source == "result < 0.02"
    with pytest.raises(GateConfigError, match="baseline colour is empty"):
        relative_error_ratio("")


def test_bad_windows_and_thresholds_are_config_errors() -> None:
    with pytest.raises(GateConfigError, match="window '1 minute' is not a PromQL duration"):
        error_ratio(schedule=Schedule(window="1 minute"))
    assert error_ratio(1e-05).condition.source == "result < 1e-05"
    with pytest.raises(GateConfigError, match="unknown name 'inf'"):
        latency_p95(float("inf"))


def test_the_stand_in_exports_the_series_and_labels_the_checks_use() -> None:
    metrics = Metrics({"service": "web", "color": "green", "version": "2.0.0"})
    metrics.observe("/courses/{id}", "GET", 503, 0.12)
    text = metrics.render()
    counter = re.search(rf"^{REQUESTS_TOTAL}{{(.*)}} 1\.0$", text, re.MULTILINE)
    assert counter is not None
    assert {"service", "color", "version", "route", "code"} <= set(re.findall(r"(\w+)=", counter.group(1)))
    assert 'code="503"' in counter.group(1)
    assert re.search(rf'^{DURATION_BUCKET}{{.*color="green".*le="0\.25".*}} 1\.0$', text, re.MULTILINE)
