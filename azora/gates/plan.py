"""From the config model to runnable gates: a service's `prePromotion` / `postPromotion` checks
as `MetricCheck`s with their key paths, the placeholder values of the colour under test, the
Prometheus address, and the one-line evidence that goes into an update's message.

- the colour under test is the preview (idle) colour before the switch and the new active
  colour after it; `relativeErrorRatio` compares it with the other colour (with two colours,
  the only baseline that is not the colour itself);
- a check with `service` reads that service's active colour (its callers' or peers' health
  while the promoted one changes): its `{{service}}`, `{{color}}` and `{{version}}` are
  escaped into the query here; the others' are the promoted service's colour under test;
- the built-in queries match the stack's namespace and leave out the health path of the
  service they read (its probes are not user traffic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azora.config.analysis import CheckConfig, duration_seconds, resolve
from azora.config.status import other_color
from azora.gates import builtin
from azora.gates.analysis import MetricCheck
from azora.gates.query import promql_string
from azora.gates.result import GateResult, Phase, fmt

if TYPE_CHECKING:
    from azora.config.base import Color
    from azora.config.model import StackConfig

PRE, POST = "prePromotion", "postPromotion"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+)\s*\}\}")


@dataclass(frozen=True)
class Gate:
    """One phase's gate of one service, ready for `run_gate(gate.checks, client, gate.values)`."""

    name: str  # e.g. "web prePromotion"
    phase: str
    checks: tuple[MetricCheck, ...]
    values: Mapping[str, str]

    def __bool__(self) -> bool:
        return bool(self.checks)


def gate(config: StackConfig, service: str, phase: str, color: Color) -> Gate:
    """The service's `phase` gate with `color` under test (no checks: no gate)."""
    own = getattr(config.services[service].analysis, "pre_promotion" if phase == PRE else "post_promotion")
    prefix = f"services.{service}.analysis" if own is not None else "analysis"
    checks = tuple(
        _metric_check(config, service, check, color, f"azora:{prefix}.{phase}[{index}]")
        for index, check in enumerate(config.gate_for(service, phase))
    )
    version = config.services[service].versions.get(color, "")
    values = {"service": service, "color": color, "version": version, "namespace": config.namespace}
    return Gate(f"{service} {phase}", phase, checks, values)


def _metric_check(config: StackConfig, service: str, check: CheckConfig, color: Color, key: str) -> MetricCheck:
    schedule = resolve(check, config.analysis.defaults)
    read = check.service or service
    health = config.services[read].health_path
    window = schedule.window
    requests = check.requests_query or builtin.requests_query("{{color}}", window, health, namespace=True)
    if check.builtin == "errorRatio":
        query = builtin.error_ratio_query("{{color}}", window, health, namespace=True)
    elif check.builtin == "latencyP95":
        query = builtin.latency_p95_query("{{color}}", window, health, namespace=True)
    elif check.builtin == "relativeErrorRatio":
        baseline = promql_string(other_color(color))
        new = builtin.error_ratio_query("{{color}}", window, health, namespace=True)
        old = builtin.error_ratio_query(baseline, window, health, namespace=True)
        query = f"({new}) - ({old})"
    else:
        query = check.query or ""
    if check.service is not None and check.service != service:  # another's active colour: literals
        active = config.status_of(read).active_color
        own = {"service": read, "color": active, "version": config.services[read].versions.get(active, "")}
        query, requests = (_literal(text, own) for text in (query, requests))
    return MetricCheck(
        name=check.check_name,
        query=query,
        success_condition=check.condition,
        interval=duration_seconds(schedule.interval),
        count=schedule.count,
        failure_limit=schedule.failure_limit,
        consecutive_error_limit=schedule.consecutive_error_limit,
        min_requests=schedule.min_requests,
        requests_query=requests,
        key=key,
        initial_delay=duration_seconds(schedule.initial_delay),
    )


def _literal(template: str, values: Mapping[str, str]) -> str:
    """`template` with the placeholders in `values` replaced by their escaped values (the rest stay)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return promql_string(values[name]) if name in values else match.group()

    return _PLACEHOLDER.sub(substitute, template)


def default_address(config: StackConfig) -> str | None:
    """The stack's own Prometheus by its in-cluster Service name: the embedded one's
    (`prometheus`), or the operator's governing Service of kube-prometheus-stack's Prometheus
    (`prometheus-operated`); None when the stack runs no Prometheus."""
    prometheus = config.monitoring.prometheus
    if not (config.monitoring.enabled and prometheus.enabled):
        return None
    service = "prometheus" if prometheus.mode == "embedded" else "prometheus-operated"
    return f"http://{service}.{config.monitoring_namespace}.svc.cluster.local:9090"


def evidence_line(result: GateResult) -> str:
    """One line for an update's message: each check's verdict and measured values.

    `postPromotion Successful: error-ratio Successful [0, 0, 0]; latency-p95 Successful [0.012, ...]`
    """
    parts = []
    for check in result.checks:
        values = ", ".join(_shown(m.value, m.phase) for m in check.measurements)
        parts.append(f"{check.check.name} {check.verdict or 'Stopped'} [{values}]")
    return f"{result.name.split(' ', 1)[-1]} {result.verdict}: " + "; ".join(parts)


def _shown(value: float | None, phase: Phase) -> str:
    if phase is Phase.ERROR:
        return "error"
    if phase is Phase.INCONCLUSIVE:
        return "too few requests"
    return "empty" if value is None else fmt(float(f"{value:.3g}"))


__all__ = ["POST", "PRE", "Gate", "default_address", "evidence_line", "gate"]
