"""The gate engine's two exceptions; everything else that goes wrong at query time is data.

- `GateConfigError` (a `BadInput`, exit 2): the gate as written cannot be run: a
  `successCondition` that does not parse, an unknown `{{placeholder}}`, a PromQL query that
  Prometheus rejects as `bad_data`, a limit out of range. Raised before anything switches.
- `PrometheusUnavailable` (exit 1): the pre-flight check (`check_queries`) could not reach
  Prometheus, or Prometheus could not run a query; the gate cannot decide, so nothing switches.

During a run, a failed query is never an exception: it is an Error measurement (analysis.py).
"""

from __future__ import annotations

from azora.errors import AzoraError, BadInput


class GateConfigError(BadInput):
    """A gate definition that cannot be run as written; the message names the key and the problem."""


class PrometheusUnavailable(AzoraError):
    """Prometheus did not answer (or could not run a query) when the gate was checked."""
