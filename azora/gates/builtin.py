"""Built-in checks on the metrics every Azora pod exports (azora/standin/metrics.py):

    azora_http_requests_total{service, color, version, route, method, code}
    azora_http_request_duration_seconds_bucket{service, color, version, route, le}

- `error_ratio()`: the share of 5xx answers of the colour under test;
- `latency_p95()`: its 95th percentile latency, from the histogram;
- `relative_error_ratio(baseline_color)`: its error ratio minus the old colour's;
- `requests_query()`: the request count in the window, for `min_requests`.

Requests that are not user traffic are left out of every query: Prometheus's scrapes
(`/metrics`), the stand-in's test controls (`/__standin/...`) and, given `health_path`, the
kubelet's probes. Otherwise probes alone would meet `min_requests` and "no traffic" would look
like a healthy, quiet release.

Fail-closed details:
- the 5xx numerator is `(... or vector(0))`: a counter series exists only once a code has
  been seen, so a release with no 5xx would otherwise give an empty result (a Failed
  measurement). The denominator has no such fallback: no traffic stays empty or NaN (0/0),
  which the analysis counts as Failed, or Inconclusive when `min_requests` is not met;
- the relative check is empty when the baseline colour had no requests in the window (its
  ratio is empty), so it fails rather than comparing against nothing. It needs traffic on both
  colours in the same window: before the switch with traffic sent to both, or right after it
  while the old colour's last minute is still in the window.

The colour under test is the `{{color}}` placeholder; the baseline colour is given as a value
(escaped here). Against kube-prometheus-stack, scrape with `honorLabels: true`, or the
operator's own `service` target label renames the pods' label to `exported_service`.
Windows need at least two scrapes: with the default `1m`, scrape every 30 s or more often.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from azora.gates.analysis import MetricCheck
from azora.gates.errors import GateConfigError
from azora.gates.query import promql_string
from azora.standin.metrics import DURATION, REQUESTS

REQUESTS_TOTAL = f"{REQUESTS}_total"
DURATION_BUCKET = f"{DURATION}_bucket"
NOT_TRAFFIC = ("/metrics", "/__standin/.*")  # regular expressions of routes that are not user traffic
_WINDOW = re.compile(r"(\d+(ms|[smhdwy]))+")
_REGEX_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\])")


def selector(color: str = "{{color}}", health_path: str | None = None, namespace: bool = False) -> str:
    """The label matchers (without braces) of one service's colour; `color` is a placeholder or
    a literal already escaped with `promql_string`."""
    excluded = [*NOT_TRAFFIC, *([_REGEX_SPECIAL.sub(r"\\\1", health_path)] if health_path else [])]
    matchers = ['service="{{service}}"', f'color="{color}"']
    if namespace:
        matchers.append('namespace="{{namespace}}"')
    matchers.append(f'route!~"{promql_string("|".join(excluded))}"')
    return ",".join(matchers)


def requests_query(
    color: str = "{{color}}", window: str = "1m", health_path: str | None = None, namespace: bool = False
) -> str:
    """Requests answered in the window (empty when none were ever seen: read as 0)."""
    return f"sum(increase({REQUESTS_TOTAL}{{{selector(color, health_path, namespace)}}}[{_window(window)}]))"


def error_ratio_query(
    color: str = "{{color}}", window: str = "1m", health_path: str | None = None, namespace: bool = False
) -> str:
    """5xx answers / all answers over the window: 0 with no 5xx, empty or NaN with no traffic."""
    matchers, span = selector(color, health_path, namespace), _window(window)
    errors = f'(sum(rate({REQUESTS_TOTAL}{{{matchers},code=~"5.."}}[{span}])) or vector(0))'
    return f"{errors} / sum(rate({REQUESTS_TOTAL}{{{matchers}}}[{span}]))"


def latency_p95_query(
    color: str = "{{color}}", window: str = "1m", health_path: str | None = None, namespace: bool = False
) -> str:
    """95th percentile latency in seconds; NaN with no traffic in the window."""
    matchers = selector(color, health_path, namespace)
    return f"histogram_quantile(0.95, sum by (le) (rate({DURATION_BUCKET}{{{matchers}}}[{_window(window)}])))"


@dataclass(frozen=True)
class Schedule:
    """How a built-in check measures: every `interval` seconds, `count` times, over a `window`
    of the colour's own requests (the health path left out when given); `min_requests` in the
    window, else the measurement is Inconclusive."""

    interval: float = 10.0
    count: int = 6
    failure_limit: int = 0
    consecutive_error_limit: int = 2
    min_requests: float = 20
    window: str = "1m"
    health_path: str | None = None
    namespace: bool = False


def _check(name: str, query: str, condition: str, schedule: Schedule) -> MetricCheck:
    return MetricCheck(
        name=name,
        query=query,
        success_condition=condition,
        interval=schedule.interval,
        count=schedule.count,
        failure_limit=schedule.failure_limit,
        consecutive_error_limit=schedule.consecutive_error_limit,
        min_requests=schedule.min_requests,
        requests_query=requests_query("{{color}}", schedule.window, schedule.health_path, schedule.namespace),
    )


def error_ratio(max_ratio: float = 0.01, *, name: str = "error-ratio", schedule: Schedule = Schedule()) -> MetricCheck:
    """The colour under test answers 5xx to less than `max_ratio` of its requests."""
    s = schedule
    return _check(
        name, error_ratio_query("{{color}}", s.window, s.health_path, s.namespace), f"result < {max_ratio!r}", s
    )


def latency_p95(max_seconds: float = 0.5, *, name: str = "latency-p95", schedule: Schedule = Schedule()) -> MetricCheck:
    """The colour under test answers 95% of its requests within `max_seconds`."""
    s = schedule
    query = latency_p95_query("{{color}}", s.window, s.health_path, s.namespace)
    return _check(name, query, f"result < {max_seconds!r}", s)


def relative_error_ratio(
    baseline_color: str,
    max_increase: float = 0.01,
    *,
    name: str = "error-ratio-vs-baseline",
    schedule: Schedule = Schedule(),
) -> MetricCheck:
    """The colour under test's error ratio exceeds the baseline colour's by less than
    `max_increase`; empty (Failed) when the baseline had no traffic in the window."""
    if not baseline_color:
        raise GateConfigError(f'check "{name}": the baseline colour is empty')
    s = schedule
    new = error_ratio_query("{{color}}", s.window, s.health_path, s.namespace)
    old = error_ratio_query(promql_string(baseline_color), s.window, s.health_path, s.namespace)
    return _check(name, f"({new}) - ({old})", f"result < {max_increase!r}", s)


def _window(window: str) -> str:
    if not _WINDOW.fullmatch(window):
        raise GateConfigError(f"window {window!r} is not a PromQL duration such as 1m or 30s")
    return window
