"""Promotion gates in the config model (`azora:analysis`, each service's `analysis`), on the
repository's real `Pulumi.local.yaml`: what resolves, and every rejection with its key path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from azora.config.analysis import CheckConfig, CheckDefaults, PartialDefaults, duration_seconds, resolve
from azora.config.errors import ConfigError
from azora.config.load import read_stack_file, validate_raw
from azora.config.model import StackConfig

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "Pulumi.local.yaml"
Edit = Callable[[dict[str, Any]], None]


def local_raw() -> dict[str, Any]:
    raw, _ = read_stack_file(ROOT / SOURCE)
    return copy.deepcopy(raw)


def valid_after(edit: Edit) -> StackConfig:
    raw = local_raw()
    edit(raw)
    return validate_raw(raw, SOURCE)


def problems_after(edit: Edit) -> list[str]:
    raw = local_raw()
    edit(raw)
    with pytest.raises(ConfigError) as caught:
        validate_raw(raw, SOURCE)
    return str(caught.value).splitlines()


def _set(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _post(*checks: dict[str, Any]) -> Edit:
    """Append checks to the stack's postPromotion gate (which holds error-ratio and latency-p95)."""

    def edit(raw: dict[str, Any]) -> None:
        raw["analysis"]["postPromotion"].extend(checks)

    return edit


def _web(analysis: dict[str, Any]) -> Edit:
    return _set(("services", "web", "analysis"), analysis)


def _both(*edits: Edit) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        for one in edits:
            one(raw)

    return edit


# ----------------------------------------------------------------------------- what resolves


def test_the_local_stack_gates_every_service_after_the_switch_with_its_defaults() -> None:
    config = valid_after(lambda raw: None)
    assert config.analysis.address is None
    for name in config.services:
        post = config.gate_for(name, "postPromotion")
        assert [(c.check_name, c.builtin, c.condition) for c in post] == [
            ("error-ratio", "errorRatio", "result < 0.01"),
            ("latency-p95", "latencyP95", "result < 0.5"),
        ]
        assert config.gate_for(name, "prePromotion") == []
    assert resolve(config.gate_for("web", "postPromotion")[0], config.analysis.defaults) == CheckDefaults(
        interval="2s", count=5, initial_delay="6s", failure_limit=0, consecutive_error_limit=2, min_requests=20,
        window="20s",
    )  # fmt: skip


def test_a_service_list_replaces_the_stacks_and_an_unset_one_takes_it() -> None:
    config = valid_after(_web({"prePromotion": [{"builtin": "relativeErrorRatio"}]}))
    [pre] = config.gate_for("web", "prePromotion")
    assert (pre.check_name, pre.builtin, pre.condition) == (
        "relative-error-ratio",
        "relativeErrorRatio",
        "result < 0.01",
    )
    assert [c.check_name for c in config.gate_for("web", "postPromotion")] == ["error-ratio", "latency-p95"]
    assert config.gate_for("auth", "prePromotion") == []  # only web asked for a pre-promotion gate


def test_an_empty_list_turns_a_services_gate_off_and_leaves_the_others() -> None:
    config = valid_after(_web({"postPromotion": []}))
    assert config.services["web"].analysis.post_promotion == []
    assert config.gate_for("web", "postPromotion") == []
    assert [c.check_name for c in config.gate_for("auth", "postPromotion")] == ["error-ratio", "latency-p95"]


def test_resolve_takes_the_checks_fields_over_the_stacks_defaults_over_the_built_in_ones() -> None:
    defaults = PartialDefaults(interval="2s", count=5, failure_limit=1, min_requests=50)
    check = CheckConfig(builtin="errorRatio", count=8, failure_limit=0, window="1m30s")
    assert resolve(check, defaults) == CheckDefaults(
        interval="2s",  # the stack's
        count=8,  # the check's, over the stack's 5
        initial_delay="0s",  # built-in
        failure_limit=0,  # the check's 0 wins over the stack's 1: set is set, even when falsy
        consecutive_error_limit=2,  # built-in
        min_requests=50,  # the stack's
        window="1m30s",  # the check's
    )
    assert resolve(CheckConfig(builtin="latencyP95"), PartialDefaults()) == CheckDefaults(
        interval="10s", count=6, initial_delay="0s", failure_limit=0, consecutive_error_limit=2, min_requests=20,
        window="1m",
    )  # fmt: skip


def test_resolve_on_a_stack_file_with_defaults_and_a_service_override() -> None:
    config = valid_after(
        _both(
            _set(("analysis", "defaults", "failureLimit"), 1),
            _web({"postPromotion": [{"builtin": "errorRatio", "interval": "500ms", "initialDelay": "1.5m"}]}),
        )
    )
    [check] = config.gate_for("web", "postPromotion")
    schedule = resolve(check, config.analysis.defaults)
    assert (schedule.interval, schedule.initial_delay, schedule.count, schedule.failure_limit) == (
        "500ms",
        "1.5m",
        5,
        1,
    )
    assert (schedule.window, schedule.min_requests) == ("20s", 20)
    assert (duration_seconds(schedule.interval), duration_seconds(schedule.initial_delay)) == (0.5, 90.0)


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("10s", 10.0), ("1.5m", 90.0), ("2h", 7200.0), ("0s", 0.0)]
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["10", "10 s", "-1s", "1d", "s"])
def test_duration_seconds_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match=f"must be a duration such as 500ms, 10s, 1.5m or 1h, got {text!r}"):
        duration_seconds(text)


# ----------------------------------------------------------------------------- rejections

REJECTIONS = [
    (
        "successCondition that does not parse, with its column",
        _set(("analysis", "postPromotion", 0, "successCondition"), "result << 0.01"),
        'azora:analysis.postPromotion[0].successCondition: condition "result << 0.01": expected a number at '
        "column 9, found `<`",
    ),
    (
        "successCondition with an unknown name, with its column",
        _web({"postPromotion": [{"builtin": "latencyP95", "successCondition": "value < 0.5"}]}),
        'azora:services.web.analysis.postPromotion[0].successCondition: condition "value < 0.5": unknown name '
        "'value' at column 1 (the only variable is `result`; the keywords are `and`, `or`, `not`)",
    ),
    (
        "unknown placeholder in a query",
        _post({"name": "pods-up", "query": 'min(up{pod="{{pod}}"})', "successCondition": "result == 1"}),
        "azora:analysis.postPromotion[2].query: the query: unknown placeholder {{pod}} "
        "(known: {{service}}, {{color}}, {{version}}, {{namespace}})",
    ),
    (
        "unknown placeholder in a requestsQuery",
        _set(("analysis", "postPromotion", 0, "requestsQuery"), 'sum(x{color="{{colour}}"})'),
        "azora:analysis.postPromotion[0].requestsQuery: the query: unknown placeholder {{colour}} "
        "(known: {{service}}, {{color}}, {{version}}, {{namespace}})",
    ),
    (
        "an empty query",
        _post({"name": "blank", "query": "  ", "successCondition": "result == 0"}),
        "azora:analysis.postPromotion[2].query: the query is empty: write a PromQL query",
    ),
    (
        "unknown builtin",
        _set(("analysis", "postPromotion", 0, "builtin"), "errorRate"),
        "azora:analysis.postPromotion[0].builtin: must be one of 'errorRatio', 'latencyP95' or "
        "'relativeErrorRatio', got 'errorRate'",
    ),
    (
        "neither builtin nor query",
        _post({"name": "nothing", "successCondition": "result == 0"}),
        "azora:analysis.postPromotion[2]: needs exactly one of `builtin` and `query`",
    ),
    (
        "both builtin and query",
        _post({"builtin": "errorRatio", "name": "both", "query": "vector(0)", "successCondition": "result == 0"}),
        "azora:analysis.postPromotion[2]: needs exactly one of `builtin` and `query`",
    ),
    (
        "unknown service in a service's own gate",
        _web({"postPromotion": [{"builtin": "errorRatio", "service": "api-gatewey"}]}),
        "azora:services.web.analysis.postPromotion[0].service: 'api-gatewey' is not a service "
        "(services: api-gateway, auth, education, marketplace, payment, web)",
    ),
    (
        "unknown service in the stack's gate",
        _set(("analysis", "postPromotion", 1, "service"), "checkout"),
        "azora:analysis.postPromotion[1].service: 'checkout' is not a service "
        "(services: api-gateway, auth, education, marketplace, payment, web)",
    ),
    (
        "service that is not a DNS label",
        _set(("analysis", "postPromotion", 0, "service"), "Web"),
        "azora:analysis.postPromotion[0].service: service name 'Web' is not a DNS-1123 label",
    ),
    (
        "baselineColor, which no longer exists (the baseline is always the other colour)",
        _set(("analysis", "prePromotion"), [{"builtin": "relativeErrorRatio", "baselineColor": "blue"}]),
        "azora:analysis.prePromotion[0].baselineColor: unknown key",
    ),
    (
        "baselineColor in a service's own gate",
        _web({"prePromotion": [{"builtin": "relativeErrorRatio", "baselineColor": "green"}]}),
        "azora:services.web.analysis.prePromotion[0].baselineColor: unknown key",
    ),
    (
        "a failureLimit of the stack's count (5): the check could never fail",
        _set(("analysis", "postPromotion", 1, "failureLimit"), 5),
        "azora:analysis.postPromotion[1].failureLimit: 5 must be below count 5: the check could never fail",
    ),
    (
        "a failureLimit over the check's own count",
        _web({"prePromotion": [{"builtin": "errorRatio", "count": 3, "failureLimit": 7}]}),
        "azora:services.web.analysis.prePromotion[0].failureLimit: 7 must be below count 3: the check could never fail",
    ),
    (
        "a check's count lowered to the stack's failureLimit",
        _both(
            _set(("analysis", "defaults", "failureLimit"), 2),
            _set(("analysis", "postPromotion", 0, "count"), 2),
        ),
        "azora:analysis.postPromotion[0].failureLimit: 2 must be below count 2: the check could never fail",
    ),
    (
        "the same builtin twice: the same default name",
        _post({"builtin": "errorRatio", "successCondition": "result < 0.05"}),
        "azora:analysis.postPromotion[2].name: 'error-ratio' is already the name of check 0",
    ),
    (
        "a query named like a builtin in the same gate",
        _post({"name": "latency-p95", "query": "vector(0)", "successCondition": "result < 1"}),
        "azora:analysis.postPromotion[2].name: 'latency-p95' is already the name of check 1",
    ),
    (
        "an empty name",
        _set(("analysis", "postPromotion", 0, "name"), " "),
        "azora:analysis.postPromotion[0].name: must not be empty",
    ),
    (
        "an interval without a unit",
        _set(("analysis", "defaults", "interval"), "10"),
        "azora:analysis.defaults.interval: must be a duration such as 500ms, 10s, 1.5m or 1h, got '10'",
    ),
    (
        "an initialDelay in words",
        _set(("analysis", "postPromotion", 1, "initialDelay"), "ten seconds"),
        "azora:analysis.postPromotion[1].initialDelay: must be a duration such as 500ms, 10s, 1.5m or 1h, "
        "got 'ten seconds'",
    ),
    (
        "a window that PromQL does not read (a fraction)",
        _set(("analysis", "defaults", "window"), "1.5m"),
        "azora:analysis.defaults.window: must be a PromQL range such as 30s, 1m or 1m30s, got '1.5m'",
    ),
    (
        "a window with a space",
        _web({"prePromotion": [{"builtin": "errorRatio", "window": "1m 30s"}]}),
        "azora:services.web.analysis.prePromotion[0].window: must be a PromQL range such as 30s, 1m or 1m30s, "
        "got '1m 30s'",
    ),
    ("count 0", _set(("analysis", "defaults", "count"), 0), "azora:analysis.defaults.count: must be >= 1, got 0"),
    (
        "negative minRequests",
        _set(("analysis", "postPromotion", 0, "minRequests"), -1),
        "azora:analysis.postPromotion[0].minRequests: must be >= 0.0, got -1",
    ),
    (
        "a misspelt key",
        _set(("analysis", "postPromotion", 0, "sucessCondition"), "result < 1"),
        "azora:analysis.postPromotion[0].sucessCondition: unknown key (did you mean 'successCondition'?)",
    ),
    (
        "a gate that is not a list",
        _web({"postPromotion": {"builtin": "errorRatio"}}),
        "azora:services.web.analysis.postPromotion: must be a list, got a mapping",
    ),
    (
        "an address without a scheme",
        _set(("analysis", "address"), "prometheus:9090"),
        "azora:analysis.address: must be an http:// or https:// URL, got 'prometheus:9090'",
    ),
    (
        "an address of another scheme",
        _set(("analysis", "address"), "ftp://prometheus:9090"),
        "azora:analysis.address: must be an http:// or https:// URL, got 'ftp://prometheus:9090'",
    ),
    (
        "alerts on the embedded Prometheus",
        _set(("monitoring", "alerts"), {"enabled": True}),
        "azora:monitoring.alerts.enabled: needs prometheus.mode: chart (the embedded Prometheus has no operator, "
        "Grafana or charts); set it to false",
    ),
    (
        "ServiceMonitors on the embedded Prometheus",
        _set(("monitoring", "serviceMonitors"), True),
        "azora:monitoring.serviceMonitors: needs prometheus.mode: chart",
    ),
    (
        "a Prometheus mode that does not exist",
        _set(("monitoring", "prometheus", "mode"), "sidecar"),
        "azora:monitoring.prometheus.mode: must be one of 'chart' or 'embedded', got 'sidecar'",
    ),
    (
        "a scrape interval of 0s",
        _set(("monitoring", "prometheus", "scrapeInterval"), "0s"),
        "azora:monitoring.prometheus.scrapeInterval: must be a Prometheus duration such as 2s, 15s or 1m, got '0s'",
    ),
    (
        "skipping kube-prometheus-stack, which the embedded mode does not fetch",
        _set(("skipCharts",), ["monitoring.prometheus.chart"]),
        "azora:skipCharts[0]: 'monitoring.prometheus.chart' is not a chart this stack fetches from a repository "
        "(known: none)",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [pytest.param(e, x, id=label) for label, e, x in REJECTIONS])
def test_each_bad_gate_is_a_config_error_naming_its_key(edit: Edit, expected: str) -> None:
    problems = problems_after(edit)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{SOURCE}: {expected}")


def test_a_query_without_name_and_condition_names_both_keys() -> None:
    assert problems_after(_post({"query": 'sum(up{service="{{service}}"})'})) == [
        f"{SOURCE}: azora:analysis.postPromotion[2].name: is required with `query`",
        f"{SOURCE}: azora:analysis.postPromotion[2].successCondition: is required with `query`",
    ]


def test_problems_in_the_stacks_gate_and_a_services_gate_are_reported_together() -> None:
    edit = _both(
        _set(("analysis", "postPromotion", 0, "successCondition"), "result <"),
        _web({"prePromotion": [{"builtin": "errorRatio", "window": "5 min"}]}),
    )
    problems = problems_after(edit)
    assert sorted(line.split(": ")[1] for line in problems) == [
        "azora:analysis.postPromotion[0].successCondition",
        "azora:services.web.analysis.prePromotion[0].window",
    ]


def test_a_failure_limit_is_checked_against_the_count_each_check_resolves_to() -> None:
    # web's own check sets no count: it takes the stack's defaults (5), not the built-in 6.
    assert problems_after(_web({"postPromotion": [{"builtin": "errorRatio", "failureLimit": 5}]})) == [
        f"{SOURCE}: azora:services.web.analysis.postPromotion[0].failureLimit: 5 must be below count 5: "
        "the check could never fail"
    ]
    # A failureLimit in the defaults is refused at every check it reaches, under the check's key.
    assert problems_after(_set(("analysis", "defaults", "failureLimit"), 5)) == [
        f"{SOURCE}: azora:analysis.postPromotion[{index}].failureLimit: 5 must be below count 5: "
        "the check could never fail"
        for index in (0, 1)
    ]
    # ... and not at a check whose own count is higher.
    config = valid_after(
        _both(
            _set(("analysis", "defaults", "failureLimit"), 5),
            _set(("analysis", "postPromotion", 0, "count"), 6),
            _set(("analysis", "postPromotion", 1, "count"), 8),
        )
    )
    assert [
        (s.count, s.failure_limit)
        for s in (resolve(c, config.analysis.defaults) for c in config.gate_for("web", "postPromotion"))
    ] == [(6, 5), (8, 5)]


# ----------------------------------------------------------------------------- look-alikes that pass


def test_look_alikes_of_the_rejections_pass_with_the_values_they_mean() -> None:
    config = valid_after(
        _both(
            _set(("analysis", "address"), "https://prometheus.example:9443/prefix"),
            _set(("analysis", "defaults", "window"), "1m30s"),
            _set(("analysis", "postPromotion", 0, "successCondition"), "result >= 0 and result <= 0.02"),
            _post(
                # the same builtin again, under its own name
                {"builtin": "errorRatio", "name": "error-ratio-gateway", "service": "api-gateway"},
                # placeholders with spaces inside the braces
                {
                    "name": "checkout-errors",
                    "query": 'sum(rate(payments_failed_total{namespace="{{ namespace }}",color="{{color}}"}[1m]))',
                    "successCondition": "result == 0",
                    "requestsQuery": 'sum(increase(checkout_total{color="{{ color }}"}[1m]))',
                },
            ),
            # the same check name in another gate
            _set(("analysis", "prePromotion"), [{"builtin": "errorRatio"}, {"builtin": "relativeErrorRatio"}]),
            _web({"prePromotion": [{"builtin": "relativeErrorRatio", "interval": "500ms"}]}),
            # one failure fewer than the count: the last measurement still decides
            _set(("analysis", "postPromotion", 1, "failureLimit"), 4),
        )
    )
    assert config.analysis.address == "https://prometheus.example:9443/prefix"
    assert config.analysis.defaults.window == "1m30s"
    post = config.gate_for("auth", "postPromotion")
    assert [c.check_name for c in post] == ["error-ratio", "latency-p95", "error-ratio-gateway", "checkout-errors"]
    assert post[0].condition == "result >= 0 and result <= 0.02"
    assert (post[2].builtin, post[2].service) == ("errorRatio", "api-gateway")
    assert post[3].requests_query == 'sum(increase(checkout_total{color="{{ color }}"}[1m]))'
    assert [c.check_name for c in config.gate_for("auth", "prePromotion")] == ["error-ratio", "relative-error-ratio"]
    [web_pre] = config.gate_for("web", "prePromotion")
    assert (web_pre.builtin, web_pre.interval) == ("relativeErrorRatio", "500ms")
    assert resolve(post[1], config.analysis.defaults).failure_limit == 4
    assert [resolve(c, config.analysis.defaults).count for c in post] == [5, 5, 5, 5]


def test_alerts_are_fine_once_prometheus_runs_the_chart() -> None:
    config = valid_after(
        _both(_set(("monitoring", "prometheus", "mode"), "chart"), _set(("monitoring", "alerts"), {"enabled": True}))
    )
    assert config.monitoring.alerts.enabled and config.monitoring.prometheus.mode == "chart"


def test_embedded_monitoring_fetches_no_kube_prometheus_stack() -> None:
    embedded = valid_after(lambda raw: None)
    assert embedded.monitoring.prometheus.mode == "embedded"
    assert embedded.monitoring.prometheus.scrape_interval == "2s"
    assert embedded.monitoring.prometheus.image == "azora.local/prometheus:3.16.0"
    assert "monitoring.prometheus.chart" not in embedded.remote_charts()
    chart = valid_after(_set(("monitoring", "prometheus", "mode"), "chart"))
    assert chart.remote_charts()["monitoring.prometheus.chart"].chart == "kube-prometheus-stack"
    assert set(chart.remote_charts()) - set(embedded.remote_charts()) == {"monitoring.prometheus.chart"}
