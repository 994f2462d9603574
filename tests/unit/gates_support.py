"""What the gate tests share: a fake clock, recorded samples turned into Prometheus's answers, and
the recorded Prometheus that a planned gate (azora.gates.plan) runs on, in tests/unit/
test_gates_plan.py and tests/unit/test_promote_gates.py."""

from __future__ import annotations

from collections.abc import Sequence

from azora.gates import GateResult, QueryResult, render_query, run_gate
from azora.gates.plan import Gate

Sample = float | None | str  # a value, an empty result, or "error: <text>"


class Clock:
    """A fake monotonic clock: sleeping moves it on at once, and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def answer(sample: Sample) -> QueryResult:
    """What Prometheus answers when the recorded sample is `sample`: a value, an empty result, or
    (for "error: <text>") a failed query."""
    if isinstance(sample, str):
        return QueryResult.failed("unreachable", sample.removeprefix("error: "))
    return QueryResult(value=sample)


class RecordedPrometheus:
    """Prometheus's answers to one gate: each check's query gets the next sample of the series
    recorded under the check's name; every requests query gets `requests` (the window's count).
    Queries are matched as the gate renders them, so a query the plan got wrong finds no answer."""

    def __init__(self, planned: Gate, series: dict[str, Sequence[Sample]], requests: float = 240.0) -> None:
        self.by_query = {render_query(check.query, planned.values): check.name for check in planned.checks}
        self.requests_queries = {
            render_query(check.requests_query, planned.values) for check in planned.checks if check.requests_query
        }
        self.series = {name: list(samples) for name, samples in series.items()}
        self.requests = requests
        self.asked: list[str] = []

    def query(self, promql: str) -> QueryResult:
        self.asked.append(promql)
        if promql in self.requests_queries:
            return QueryResult(value=self.requests)
        return answer(self.series[self.by_query[promql]].pop(0))


def measure(
    planned: Gate, series: dict[str, Sequence[Sample]], requests: float = 240.0, clock: Clock | None = None
) -> GateResult:
    """`run_gate` on the planned gate, answered from `series`, on a clock that never sleeps."""
    clock = clock or Clock()
    client = RecordedPrometheus(planned, series, requests)
    return run_gate(planned.checks, client, planned.values, name=planned.name, clock=clock, sleep=clock.sleep)
