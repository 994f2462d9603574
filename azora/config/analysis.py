"""Promotion gates in the config model: `azora:analysis` (the stack's defaults) and each
service's `analysis` (its own lists, replacing the stack's), as Argo Rollouts'
`prePromotionAnalysis` / `postPromotionAnalysis` with the metric fields of its AnalysisTemplate.

    azora:analysis:
      address: http://prometheus.example:9090   # default: the stack's own Prometheus Service
      defaults: {interval: 10s, count: 6, initialDelay: 20s, window: 1m, minRequests: 20}
      prePromotion:
        - builtin: errorRatio                   # the preview colour's 5xx share
        - builtin: relativeErrorRatio           # the preview colour's minus the active one's
      postPromotion:
        - builtin: errorRatio
          successCondition: result < 0.02
        - builtin: latencyP95
        - name: checkout-errors                 # any PromQL that returns one number
          query: sum(rate(payments_failed_total{color="{{color}}"}[1m]))
          successCondition: result == 0

A check is a built-in (`errorRatio`, `latencyP95`, `relativeErrorRatio`: queries on the metrics
every Azora pod exports, azora/gates/builtin.py) or a `query` with `{{service}}`, `{{color}}`,
`{{version}}` and `{{namespace}}` placeholders. Unset fields come from `defaults`, then from
the built-in defaults below. Everything is checked here, with its key path: the condition's
syntax, the placeholders, a `service` that does not exist, a `failureLimit` that could never
be passed. Whether a query
parses is Prometheus's to say: `azora promote` runs each query once before anything switches.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from azora.config.base import Model, check_dns_label
from azora.config.errors import NestedProblems
from azora.gates.condition import parse_condition
from azora.gates.errors import GateConfigError
from azora.gates.query import render_query

Builtin = Literal["errorRatio", "latencyP95", "relativeErrorRatio"]
BUILTIN_CONDITIONS: dict[str, str] = {
    "errorRatio": "result < 0.01",
    "latencyP95": "result < 0.5",
    "relativeErrorRatio": "result < 0.01",
}
PHASES = ("prePromotion", "postPromotion")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PROMQL_WINDOW = re.compile(r"^(\d+(ms|[smhdwy]))+$")
_SAMPLE_VALUES = {"service": "web", "color": "blue", "version": "1.0.0", "namespace": "azora"}


def duration_seconds(text: str) -> float:
    """`10s`, `1.5m`, `500ms`, `1h` -> seconds (ValueError otherwise)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"must be a duration such as 500ms, 10s, 1.5m or 1h, got {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _duration(text: str) -> str:
    duration_seconds(text)
    return text


def _window(text: str) -> str:
    if not _PROMQL_WINDOW.match(text):
        raise ValueError(f"must be a PromQL range such as 30s, 1m or 1m30s, got {text!r}")
    return text


class CheckDefaults(Model):
    """What a check takes when it does not say: `azora:analysis.defaults` over these."""

    interval: str = Field(default="10s", description="Time between measurements (Argo's `interval`).")
    count: Annotated[int, Field(ge=1, le=1000)] = Field(default=6, description="Measurements per check.")
    initial_delay: str = Field(
        default="0s",
        description="Wait before the first measurement, so the window holds traffic of the colour under test "
        "(Argo's `initialDelay`). Give it at least two scrape intervals after a switch.",
    )
    failure_limit: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Failed measurements tolerated; one more fails the check."
    )
    consecutive_error_limit: Annotated[int, Field(ge=0)] = Field(
        default=2, description="Query errors tolerated in a row; one more makes the check Error (fails the gate)."
    )
    min_requests: Annotated[float, Field(ge=0)] = Field(
        default=20,
        description="Requests the colour under test must have answered in the window, else the measurement is "
        "Inconclusive and the release holds (exit 4). Probes, scrapes and the health path do not count.",
    )
    window: str = Field(default="1m", description="The PromQL range of the built-in queries and the request count.")

    @field_validator("interval", "initial_delay")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("window")
    @classmethod
    def _windows(cls, value: str) -> str:
        return _window(value)


class PartialDefaults(Model):
    """`azora:analysis.defaults`: any of CheckDefaults' fields."""

    interval: str | None = Field(default=None, description="Default `interval` (10s).")
    count: Annotated[int, Field(ge=1, le=1000)] | None = Field(default=None, description="Default `count` (6).")
    initial_delay: str | None = Field(default=None, description="Default `initialDelay` (0s).")
    failure_limit: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Default `failureLimit` (0).")
    consecutive_error_limit: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Default `consecutiveErrorLimit` (2)."
    )
    min_requests: Annotated[float, Field(ge=0)] | None = Field(default=None, description="Default `minRequests` (20).")
    window: str | None = Field(default=None, description="Default `window` (1m).")

    @field_validator("interval", "initial_delay")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return value if value is None else _duration(value)

    @field_validator("window")
    @classmethod
    def _windows(cls, value: str | None) -> str | None:
        return value if value is None else _window(value)


class CheckConfig(PartialDefaults):
    """One metric check of a gate."""

    name: str | None = Field(default=None, description="Unique in its gate; default the built-in's name.")
    builtin: Builtin | None = Field(
        default=None, description="errorRatio, latencyP95 or relativeErrorRatio (instead of `query`)."
    )
    query: str | None = Field(
        default=None,
        description="PromQL returning one number; {{service}}, {{color}}, {{version}}, {{namespace}} filled in.",
    )
    success_condition: str | None = Field(
        default=None,
        description="When a measurement passes, e.g. `result < 0.01` (errorRatio's default; latencyP95: "
        "`result < 0.5` seconds; relativeErrorRatio: `result < 0.01`). Required with `query`.",
    )
    requests_query: str | None = Field(
        default=None,
        description="PromQL counting the window's requests for `minRequests`; default the colour's own "
        "request count (the built-ins' count).",
    )
    service: str | None = Field(
        default=None,
        description="Read another Azora service's metrics, of its active colour (e.g. the callers of the promoted "
        "service): `{{service}}`, `{{color}}` and `{{version}}` are that service's.",
    )

    @field_validator("success_condition")
    @classmethod
    def _condition(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                parse_condition(text, "condition")
            except GateConfigError as exc:
                raise ValueError(str(exc)) from None
        return text

    @field_validator("query", "requests_query")
    @classmethod
    def _template(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                render_query(text, _SAMPLE_VALUES, "the query")
            except GateConfigError as exc:
                raise ValueError(str(exc)) from None
        return text

    @field_validator("service")
    @classmethod
    def _service_name(cls, name: str | None) -> str | None:
        return name if name is None else check_dns_label(name, "service name")

    @model_validator(mode="after")
    def _one_kind(self) -> CheckConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if (self.builtin is None) == (self.query is None):
            problems.append(((), "needs exactly one of `builtin` and `query`"))
        if self.service is not None and self.builtin == "relativeErrorRatio":
            problems.append((("service",), "relativeErrorRatio compares the promoted service's two colours"))
        if self.query is not None and self.name is None:
            problems.append((("name",), "is required with `query`"))
        if self.query is not None and self.success_condition is None:
            problems.append((("successCondition",), "is required with `query`"))
        if self.name is not None and not self.name.strip():
            problems.append((("name",), "must not be empty"))
        if problems:
            raise NestedProblems(problems)
        return self

    @property
    def check_name(self) -> str:
        return self.name or _kebab(self.builtin or "check")

    @property
    def condition(self) -> str:
        return self.success_condition or BUILTIN_CONDITIONS[self.builtin or ""]


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()


def _unique_names(checks: list[CheckConfig] | None) -> list[CheckConfig] | None:
    if checks:
        seen: dict[str, int] = {}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, check in enumerate(checks):
            if check.check_name in seen:
                problems.append(
                    ((index, "name"), f"{check.check_name!r} is already the name of check {seen[check.check_name]}")
                )
            seen.setdefault(check.check_name, index)
        if problems:
            raise NestedProblems(problems)
    return checks


class ServiceAnalysis(Model):
    """A service's own gates; an unset list takes the stack's (`azora:analysis`), `[]` turns it off."""

    pre_promotion: list[CheckConfig] | None = Field(
        default=None, description="Checks on the preview colour before `azora promote` switches."
    )
    post_promotion: list[CheckConfig] | None = Field(
        default=None, description="Checks on the new active colour after the switch; failing switches back."
    )

    @field_validator("pre_promotion", "post_promotion")
    @classmethod
    def _names(cls, checks: list[CheckConfig] | None) -> list[CheckConfig] | None:
        return _unique_names(checks)


class StackAnalysis(ServiceAnalysis):
    """`azora:analysis`: the gates every service gets unless it sets its own, and how they run."""

    address: str | None = Field(
        default=None,
        description="Prometheus base URL the gates query (Argo's `address`); default the stack's own "
        "Prometheus Service (embedded: `prometheus` in the monitoring namespace, reached through its "
        "ClusterIP on the embedded cluster). `azora promote --prometheus-url` overrides it.",
    )
    defaults: PartialDefaults = Field(default_factory=PartialDefaults, description="Defaults for every check.")

    @field_validator("address")
    @classmethod
    def _url(cls, address: str | None) -> str | None:
        if address is not None and not re.match(r"^https?://[^/\s]+", address):
            raise ValueError(f"must be an http:// or https:// URL, got {address!r}")
        return address


def reference_problems(
    stack: StackAnalysis, services: dict[str, ServiceAnalysis]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that read a service the stack does not have, as (key path, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    known = ", ".join(sorted(services))
    places: list[tuple[tuple[str | int, ...], ServiceAnalysis]] = [(("analysis",), stack)]
    places += [(("services", name, "analysis"), own) for name, own in services.items()]
    for prefix, analysis in places:
        for phase, checks in (("prePromotion", analysis.pre_promotion), ("postPromotion", analysis.post_promotion)):
            for index, check in enumerate(checks or []):
                if check.service is not None and check.service not in services:
                    where = (*prefix, phase, index, "service")
                    problems.append((where, f"{check.service!r} is not a service (services: {known})"))
                schedule = resolve(check, stack.defaults)
                if schedule.failure_limit >= schedule.count:
                    where = (*prefix, phase, index, "failureLimit")
                    message = (
                        f"{schedule.failure_limit} must be below count {schedule.count}: the check could never fail"
                    )
                    problems.append((where, message))
    return problems


def resolve(check: CheckConfig, defaults: PartialDefaults) -> CheckDefaults:
    """The check's schedule: its own fields over the stack's defaults over the built-in ones."""
    merged = {**defaults.model_dump(exclude_none=True)}
    own = PartialDefaults.model_fields
    merged.update({k: v for k, v in check.model_dump(exclude_none=True).items() if k in own})
    return CheckDefaults(**merged)


__all__ = [
    "BUILTIN_CONDITIONS",
    "PHASES",
    "CheckConfig",
    "CheckDefaults",
    "PartialDefaults",
    "ServiceAnalysis",
    "StackAnalysis",
    "duration_seconds",
    "reference_problems",
    "resolve",
]
