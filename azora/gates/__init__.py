"""Promotion gates on live Prometheus metrics (issue #15), failing closed.

- condition.py: `successCondition` (`result < 0.01`), parsed once, never eval'd;
- query.py: PromQL templates (`{{service}}`, `{{color}}`, `{{version}}`, `{{namespace}}`) and
  `PrometheusClient`, whose answers are a number, empty, or an error (never an exception);
- analysis.py: `MetricCheck` measurements and verdicts, `run_gate`, `GateResult.as_dict()`;
- builtin.py: error ratio, p95 latency, relative error ratio and request count checks on the
  metrics Azora pods export.

The rules that make a gate fail closed (details in analysis.py): an empty result or NaN is a
Failed measurement, never a pass; a query error is an Error measurement; too many errors in a
row, or every measurement errored, make the check Error (which fails the gate); fewer requests
than `min_requests` make a measurement Inconclusive, and a gate with an Inconclusive check and
no failure is Inconclusive: the release holds (exit 4, `ExitCode.INCONCLUSIVE`). A gate passes
only when every check ran all its measurements, none Inconclusive, within its failure limit.
"""

from azora.gates.analysis import (
    CheckResult,
    GateResult,
    Measurement,
    MetricCheck,
    Phase,
    check_queries,
    run_check,
    run_gate,
)
from azora.gates.condition import Condition, parse_condition
from azora.gates.errors import GateConfigError, PrometheusUnavailable
from azora.gates.query import PLACEHOLDERS, PrometheusClient, QueryClient, QueryResult, promql_string, render_query

__all__ = [
    "PLACEHOLDERS",
    "CheckResult",
    "Condition",
    "GateConfigError",
    "GateResult",
    "Measurement",
    "MetricCheck",
    "Phase",
    "PrometheusClient",
    "PrometheusUnavailable",
    "QueryClient",
    "QueryResult",
    "check_queries",
    "parse_condition",
    "promql_string",
    "render_query",
    "run_check",
    "run_gate",
]
