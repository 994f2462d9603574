"""Metric checks and gates: measurements over time, tri-state verdicts that fail closed.

A `MetricCheck` takes `count` measurements, one every `interval` seconds, the first after
`initial_delay` (at once by default).
Each measurement runs the check's `requests_query` (if any), then its `query`, and gets a phase,
decided in this order:

1. Error: a query failed (Prometheus error, unreachable, several series...); query.py.
2. Inconclusive: `min_requests` > 0 and the request count is below it (an empty or NaN count
   is 0 requests): too little traffic to judge, whatever the value.
3. Failed: an empty result or NaN. No data is never a pass.
4. Successful if `success_condition` holds for the value (±Inf included), else Failed.

The check's verdict, checked after every measurement (the run stops once it is certain):

- Failed as soon as failed measurements > `failure_limit`;
- Error as soon as query errors in a row > `consecutive_error_limit`;
and once all `count` measurements ran:
- Error if every measurement errored (even when the limit in a row was never passed);
- else Inconclusive if at least one measurement was Inconclusive;
- else Failed if no measurement was Successful (the rest failed or errored);
- else Successful: all measurements ran, none Inconclusive, failures <= failure_limit, and
  errors never more than `consecutive_error_limit` in a row.

A gate runs its checks interleaved by time in one thread: each measurement happens when its
check is due, so a gate of three 5 x 10 s checks takes about 40 s, not 2 minutes (a
post-promotion gate must switch back quickly). Its verdict: Failed if any check is Failed or
Error (the gate stops there: the other checks end unfinished, verdict None); else
Inconclusive if any check is; else Successful. Inconclusive holds the release: exit 4.

The clock and the sleep are injectable (tests never sleep); each measurement goes to
`on_measurement` as it happens. The results and `GateResult.as_dict()`, the compact evidence
for the stack, are in result.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from azora.gates.condition import Condition, parse_condition
from azora.gates.errors import GateConfigError
from azora.gates.query import QueryChecker, QueryClient, render_query
from azora.gates.result import CheckResult, GateResult, Measurement, Phase, fmt, gate_result

__all__ = ["CheckResult", "GateResult", "Measurement", "MetricCheck", "Phase", "check_queries", "run_check", "run_gate"]


@dataclass(frozen=True)
class MetricCheck:
    """One metric check; `key` names it in error messages (a key path such as
    `services.web.analysis.postPromotion[0]`), by default `check "<name>"`."""

    name: str
    query: str
    success_condition: str
    interval: float = 30.0
    count: int = 5
    failure_limit: int = 0
    consecutive_error_limit: int = 2
    min_requests: float = 0
    requests_query: str | None = None
    key: str = ""
    initial_delay: float = 0.0  # seconds before the first measurement (Argo's initialDelay)
    condition: Condition = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.where
        if not self.name:
            raise GateConfigError(f"{where}: a check needs a name")
        problems = {
            "interval": self.interval < 0 or not math.isfinite(self.interval),
            "initialDelay": self.initial_delay < 0 or not math.isfinite(self.initial_delay),
            "count": self.count < 1,
            "failureLimit": self.failure_limit < 0,
            "consecutiveErrorLimit": self.consecutive_error_limit < 0,
            "minRequests": self.min_requests < 0 or not math.isfinite(self.min_requests),
        }
        for name, bad in problems.items():
            if bad:
                raise GateConfigError(f"{where}.{name} is out of range", details=[repr(self)])
        if self.failure_limit >= self.count:
            limit, count = self.failure_limit, self.count
            raise GateConfigError(
                f"{where}.failureLimit {limit} must be below count {count}: the check could never fail"
            )
        if self.min_requests > 0 and not self.requests_query:
            raise GateConfigError(f"{where}.minRequests needs a requests query counting the window's requests")
        object.__setattr__(self, "condition", parse_condition(self.success_condition, f"{where}.successCondition"))

    @property
    def where(self) -> str:
        return self.key or f'check "{self.name}"'


OnMeasurement = Callable[[Measurement], None]


def run_gate(
    checks: Sequence[MetricCheck],
    client: QueryClient,
    values: Mapping[str, str],
    *,
    name: str = "gate",
    on_measurement: OnMeasurement | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> GateResult:
    """Run `checks` interleaved by time; `values` fill the queries' placeholders (query.py).
    Every query is rendered before the first measurement, so a template error changes nothing."""
    if not checks:
        raise GateConfigError(f"{name}: a gate needs at least one check")
    names = [check.name for check in checks]
    duplicates = sorted({check for check in names if names.count(check) > 1})
    if duplicates:
        raise GateConfigError(f"{name}: check names must be unique; repeated: {', '.join(duplicates)}")
    runs = [_Run(check, values) for check in checks]
    start = clock()
    for run in runs:
        run.due = start + run.check.initial_delay
    while True:
        pending = [run for run in runs if run.result.verdict is None]
        if not pending:
            break
        run = min(pending, key=lambda candidate: candidate.due)  # min keeps the first of equals
        wait = run.due - clock()
        if wait > 0:
            sleep(wait)
        measurement = run.measure(client, clock() - start)
        if on_measurement is not None:
            on_measurement(measurement)
        if run.result.verdict in (Phase.FAILED, Phase.ERROR):
            break  # the gate's verdict is certain: fail fast
        run.due = max(run.due + run.check.interval, clock())
    return gate_result(name, [run.result for run in runs])


def run_check(check: MetricCheck, client: QueryClient, values: Mapping[str, str], **options: Any) -> CheckResult:
    """One check alone (a gate of one)."""
    return run_gate([check], client, values, name=check.name, **options).checks[0]


def check_queries(checks: Sequence[MetricCheck], client: QueryChecker, values: Mapping[str, str]) -> None:
    """Pre-flight, before anything switches: render every query and run it once through
    `client.check` (PrometheusClient.check), which raises GateConfigError for a query Prometheus
    rejects and PrometheusUnavailable when it cannot answer."""
    for check in checks:
        client.check(render_query(check.query, values, f"{check.where}.query"), f"{check.where}.query")
        if check.requests_query:
            key = f"{check.where}.requestsQuery"
            client.check(render_query(check.requests_query, values, key), key)


class _Run:
    """One check in progress: its rendered queries, its next due time, its result so far."""

    def __init__(self, check: MetricCheck, values: Mapping[str, str]) -> None:
        self.check = check
        self.query = render_query(check.query, values, f"{check.where}.query")
        self.requests_query = (
            render_query(check.requests_query, values, f"{check.where}.requestsQuery") if check.requests_query else None
        )
        self.due = 0.0
        self.in_a_row = 0  # query errors in a row
        self.result = CheckResult(check)

    def measure(self, client: QueryClient, at: float) -> Measurement:
        phase, value, message, requests = self._observe(client)
        index = len(self.result.measurements) + 1
        measurement = Measurement(self.check.name, index, at, phase, value, message, requests)
        self.result.measurements.append(measurement)
        self.in_a_row = self.in_a_row + 1 if phase is Phase.ERROR else 0
        self._decide(measurement)
        return measurement

    def _observe(self, client: QueryClient) -> tuple[Phase, float | None, str, float | None]:
        check, requests = self.check, None
        if self.requests_query is not None:
            counted = client.query(self.requests_query)
            if counted.error is not None:
                return Phase.ERROR, None, f"requests query: {counted.error}", None
            requests = 0.0 if counted.value is None or math.isnan(counted.value) else counted.value
        answer = client.query(self.query)
        if answer.error is not None:
            return Phase.ERROR, None, answer.error, requests
        value = answer.value
        if requests is not None and requests < check.min_requests:
            shown = "no value" if value is None else fmt(value)
            message = f"{shown} on {requests:g} requests, below minRequests {check.min_requests:g}"
            return Phase.INCONCLUSIVE, value, message, requests
        if value is None:
            return Phase.FAILED, None, "empty result: no series matched (no data is never a pass)", requests
        if math.isnan(value):
            return Phase.FAILED, value, "NaN (no data in the window?): never a pass", requests
        if check.condition(value):
            return Phase.SUCCESSFUL, value, f"{fmt(value)}: {check.condition} holds", requests
        return Phase.FAILED, value, f"{fmt(value)}: {check.condition} does not hold", requests

    def _decide(self, last: Measurement) -> None:
        check, result = self.check, self.result
        done, failed = len(result.measurements), result.tally(Phase.FAILED)
        errors, inconclusive = result.tally(Phase.ERROR), result.tally(Phase.INCONCLUSIVE)
        successful = result.tally(Phase.SUCCESSFUL)
        if failed > check.failure_limit:
            result.verdict = Phase.FAILED
            result.reason = f"{failed} of {done} failed (failureLimit {check.failure_limit}): {last.message}"
        elif self.in_a_row > check.consecutive_error_limit:
            result.verdict = Phase.ERROR
            result.reason = (
                f"{self.in_a_row} query errors in a row (consecutiveErrorLimit {check.consecutive_error_limit}): "
                f"{last.message}"
            )
        elif done < check.count:
            return
        elif errors == done:
            result.verdict, result.reason = Phase.ERROR, f"every measurement errored: {last.message}"
        elif inconclusive:
            result.verdict = Phase.INCONCLUSIVE
            result.reason = f"{inconclusive} of {done} had too little traffic (minRequests {check.min_requests:g})"
        elif not successful:
            result.verdict = Phase.FAILED
            result.reason = f"no measurement succeeded ({failed} failed, {errors} errored)"
        else:
            result.verdict = Phase.SUCCESSFUL
            result.reason = f"{successful} of {done} measurements passed ({failed} failed, {errors} errored)"
