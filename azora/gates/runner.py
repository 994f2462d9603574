"""The gates `azora promote` runs: a service's checks against one Prometheus, each measurement
reported as it happens (release.Gates).

`preflight` renders every query of both phases and runs it once (PrometheusClient.check) before
anything switches: a query Prometheus rejects is a GateConfigError (exit 2), a Prometheus that
does not answer is PrometheusUnavailable (exit 1), and nothing has changed either way.

The Prometheus address is, in order: `--prometheus-url`, `azora:analysis.address`, the stack's
own Prometheus Service (gates.plan.default_address). An in-cluster Service name is reached
through its ClusterIP on the embedded real node (`resolve` is given by the command).
"""

from __future__ import annotations

from collections.abc import Callable

from azora.config.base import Color
from azora.config.model import StackConfig
from azora.config.status import other_color
from azora.gates.analysis import OnMeasurement, check_queries, run_gate
from azora.gates.errors import GateConfigError
from azora.gates.plan import POST, PRE, default_address, gate
from azora.gates.query import PrometheusClient
from azora.gates.result import GateResult

Report = Callable[[str], None]


def gate_address(config: StackConfig, override: str | None, stack_file: str) -> str:
    """Where the gates read metrics (see the module docstring)."""
    address = override or config.analysis.address or default_address(config)
    if address is None:
        raise GateConfigError(
            f"{stack_file}: azora:analysis has gates but no Prometheus to read: the stack runs none "
            "(azora:monitoring.prometheus.enabled is false); set azora:analysis.address or pass --prometheus-url"
        )
    return address


class PrometheusGates:
    """release.Gates against the Prometheus at `address` (after `resolve`, once, at first use)."""

    def __init__(
        self,
        address: str,
        *,
        resolve: Callable[[str], str] | None = None,
        on_measurement: OnMeasurement | None = None,
        report: Report | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.address = address
        self._resolve = resolve
        self._client: PrometheusClient | None = None
        self.on_measurement = on_measurement
        self.report = report or (lambda line: None)
        self.timeout = timeout

    @property
    def client(self) -> PrometheusClient:
        if self._client is None:
            url = self._resolve(self.address) if self._resolve is not None else self.address
            self._client = PrometheusClient(url, timeout=self.timeout)
        return self._client

    def preflight(self, config: StackConfig, service: str, old: Color, new: Color) -> None:
        for phase in (PRE, POST):
            planned = gate(config, service, phase, new)
            if planned:
                check_queries(planned.checks, self.client, planned.values)
        del old  # the baseline colour is the other one of `new`, already in the queries

    def run(self, config: StackConfig, service: str, phase: str, color: Color) -> GateResult | None:
        planned = gate(config, service, phase, color)
        if not planned:
            return None
        where = "the preview colour" if phase == PRE else "the new active colour"
        baseline = other_color(color)
        self.report(
            f"{planned.name}: {len(planned.checks)} check(s) on {where} {color} "
            f"{planned.values['version']} (baseline {baseline}), Prometheus {self.client.base_url}"
        )
        result = run_gate(
            planned.checks, self.client, planned.values, name=planned.name, on_measurement=self.on_measurement
        )
        self.report(f"{planned.name}: {result.verdict} ({result.decision}): {result.reason}")
        return result


__all__ = ["PrometheusGates", "gate_address"]
