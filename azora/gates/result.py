"""What a gate run produces: measurement phases, check and gate results, the evidence.

`GateResult.as_dict()` is what goes into the Pulumi update message or the stack outputs, so
it stays small: per check its name, condition, verdict and reason; per measurement its time
(seconds since the gate started), value (4 significant digits; "NaN", "+Inf", "-Inf" as
strings, None for an empty result or an error), phase, the request count if measured, and a
message (at most 120 characters) only when the phase is not Successful.

Decisions: Successful → "proceed", Inconclusive → "hold" (exit 4), Failed → "abort" (the
caller may pass its own, e.g. "switched back").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from azora.errors import ExitCode

if TYPE_CHECKING:
    from azora.gates.analysis import MetricCheck

MAX_MESSAGE = 120  # characters of a message kept in the evidence


class Phase(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"


DECISIONS = {Phase.SUCCESSFUL: "proceed", Phase.INCONCLUSIVE: "hold", Phase.FAILED: "abort"}


@dataclass(frozen=True)
class Measurement:
    check: str
    index: int  # 1-based
    at: float  # seconds since the gate started
    phase: Phase
    value: float | None  # None: empty result, or not measured (an error)
    message: str
    requests: float | None = None  # the requests query's count, when the check has one


@dataclass
class CheckResult:
    check: MetricCheck
    measurements: list[Measurement] = field(default_factory=list)
    verdict: Phase | None = None  # None: stopped unfinished when another check failed the gate
    reason: str = "stopped: another check decided the gate"

    def tally(self, phase: Phase) -> int:
        return sum(1 for measurement in self.measurements if measurement.phase is phase)


@dataclass
class GateResult:
    name: str
    checks: list[CheckResult]
    verdict: Phase
    reason: str

    @property
    def decision(self) -> str:
        return DECISIONS.get(self.verdict, "abort")

    @property
    def exit_code(self) -> ExitCode:
        return {Phase.SUCCESSFUL: ExitCode.OK, Phase.INCONCLUSIVE: ExitCode.INCONCLUSIVE}.get(
            self.verdict, ExitCode.FAILED
        )

    def as_dict(self, decision: str | None = None) -> dict[str, Any]:
        """Compact evidence: values to 4 significant digits, messages only where not Successful."""
        return {
            "gate": self.name,
            "verdict": str(self.verdict),
            "decision": decision or self.decision,
            "checks": [
                {
                    "name": result.check.name,
                    "condition": result.check.condition.source,
                    "verdict": str(result.verdict) if result.verdict else "Stopped",
                    "reason": _cap(result.reason),
                    "measurements": [_evidence(measurement) for measurement in result.measurements],
                }
                for result in self.checks
            ],
        }


def gate_result(name: str, results: list[CheckResult]) -> GateResult:
    def named(phases: tuple[Phase, ...]) -> str:
        return "; ".join(f"{r.check.name}: {r.reason}" for r in results if r.verdict in phases)

    if any(r.verdict in (Phase.FAILED, Phase.ERROR) for r in results):
        return GateResult(name, results, Phase.FAILED, named((Phase.FAILED, Phase.ERROR)))
    if any(r.verdict is Phase.INCONCLUSIVE for r in results):
        return GateResult(name, results, Phase.INCONCLUSIVE, named((Phase.INCONCLUSIVE,)))
    return GateResult(name, results, Phase.SUCCESSFUL, f"{len(results)} of {len(results)} checks passed")


def measurement_line(measurement: Measurement) -> str:
    """A measurement as it is printed when it happens:
    `error-ratio #2 at 8.1s: Successful (240 requests): 0.0123: result < 0.05 holds`."""
    m = measurement
    requests = f" ({m.requests:g} requests)" if m.requests is not None else ""
    return f"{m.check} #{m.index} at {m.at:.1f}s: {m.phase}{requests}: {m.message}"


def fmt(value: float) -> str:
    """A value as messages show it: 6 significant digits, NaN, +Inf, -Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.6g}"


def _evidence(measurement: Measurement) -> dict[str, Any]:
    value = measurement.value
    shown: float | str | None = value
    if value is not None:
        shown = fmt(value) if not math.isfinite(value) else float(f"{value:.4g}")
    entry: dict[str, Any] = {"t": round(measurement.at, 1), "value": shown, "phase": str(measurement.phase)}
    if measurement.requests is not None:
        requests = measurement.requests
        entry["requests"] = round(requests, 1) if math.isfinite(requests) else fmt(requests)
    if measurement.phase is not Phase.SUCCESSFUL:
        entry["message"] = _cap(measurement.message)
    return entry


def _cap(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
