"""The platform sections of a stack's config: third-party Helm charts, the data stores,
monitoring, and the namespace's quota and ingress. Part of the config model (azora.config.model
re-exports every name), kept apart so each file holds one concept."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from azora.config.base import PINNED_VERSION, Model, check_dns_label
from azora.config.errors import NestedProblems
from azora.quantity import parse_quantity

# A namespace a section names (a chart's, monitoring's): a DNS-1123 label.
NamespaceName = Annotated[str, AfterValidator(lambda name: check_dns_label(name, "namespace"))]

# ----------------------------------------------------------------------------- charts


class ChartSpec(Model):
    """A third-party Helm chart pinned by repository and version."""

    chart: str = Field(description="Chart name in the repository, or a local path.")
    repo: str | None = Field(
        default=None,
        description="Repository URL (https:// or oci://); unset for a local chart path.",
    )
    version: str | None = Field(default=None, description="Exact chart version; required for a repository chart.")
    type: Literal["chart", "release"] = Field(
        default="chart",
        description="chart: kubernetes.helm.v4.Chart (Pulumi tracks each object); "
        "release: kubernetes.helm.v3.Release (Helm history, atomic upgrades).",
    )
    namespace: NamespaceName | None = Field(
        default=None, description="Target namespace; default is the stack's namespace."
    )
    values: dict[str, Any] = Field(default_factory=dict, description="Values merged over the component's defaults.")
    enabled: bool = Field(default=True, description="Deploy this chart.")

    @field_validator("version")
    @classmethod
    def _version_pinned(cls, version: str | None) -> str | None:
        if version is not None and not PINNED_VERSION.match(version):
            raise ValueError(f"must be an exact version such as 1.2.3, not a range: {version!r}")
        return version

    @model_validator(mode="after")
    def _remote_needs_version(self) -> ChartSpec:
        if self.repo and self.version is None:
            raise NestedProblems([(("version",), "is required for a repository chart")])
        if self.repo and not self.repo.startswith(("https://", "http://", "oci://")):
            raise NestedProblems([(("repo",), f"must be an https:// or oci:// URL, got {self.repo!r}")])
        return self

    @property
    def is_local(self) -> bool:
        return self.repo is None


def _chart(chart: str, repo: str, version: str) -> Any:
    return Field(
        default_factory=lambda: ChartSpec(chart=chart, repo=repo, version=version),
        description=f"The pinned {chart} chart and values over its defaults.",
    )


# ----------------------------------------------------------------------------- data stores


class DataStore(Model):
    mode: Literal["in-cluster", "external", "disabled"] = Field(
        default="disabled",
        description="in-cluster: run the chart; external: URL from secret config; disabled.",
    )


class PostgresConfig(DataStore):
    chart: ChartSpec = _chart("postgresql", "oci://registry-1.docker.io/bitnamicharts", "16.2.1")
    database: str = Field(default="azora", description="Database name.")
    username: str = Field(default="azora", description="Application user.")


class RedisConfig(DataStore):
    chart: ChartSpec = _chart("redis", "oci://registry-1.docker.io/bitnamicharts", "20.3.0")


# ----------------------------------------------------------------------------- monitoring


EMBEDDED_PROMETHEUS_IMAGE = "azora.local/prometheus:3.16.0"


class PrometheusConfig(Model):
    enabled: bool = Field(default=True, description="Run Prometheus (the gates and alerts read it).")
    mode: Literal["chart", "embedded"] = Field(
        default="chart",
        description="chart: kube-prometheus-stack (operator, Alertmanager, Grafana); embedded: one Prometheus "
        "pod from a locally built image, discovering the stack's pods through the API (the local stack).",
    )
    chart: ChartSpec = _chart("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "65.1.1")
    retention: str = Field(default="15d", description="Prometheus retention.")
    image: str = Field(
        default=EMBEDDED_PROMETHEUS_IMAGE,
        description="embedded: the image, built on the embedded cluster from the toolchain's Prometheus "
        "(its Go module).",
    )
    scrape_interval: str = Field(
        default="5s",
        description="embedded: how often each pod's /metrics is scraped; the gates' windows need two scrapes.",
    )

    @field_validator("scrape_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*(ms|s|m)", value):
            raise ValueError(f"must be a Prometheus duration such as 2s, 15s or 1m, got {value!r}")
        return value


class AlertsConfig(Model):
    enabled: bool = Field(default=True, description="PrometheusRule alerts per service.")
    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = Field(
        default=5.0, description="5xx share of requests that fires HighErrorRate."
    )
    p95_latency_seconds: Annotated[float, Field(gt=0)] = Field(
        default=1.0, description="p95 latency that fires HighLatency."
    )
    restarts_per_hour: Annotated[int, Field(ge=1)] = Field(
        default=3, description="Container restarts in an hour that fire PodRestarting."
    )


class LogsConfig(Model):
    enabled: bool = Field(default=True, description="Loki for logs.")
    chart: ChartSpec = _chart("loki", "https://grafana.github.io/helm-charts", "6.16.0")


class TracingConfig(Model):
    enabled: bool = Field(default=True, description="OpenTelemetry Collector for traces.")
    chart: ChartSpec = _chart(
        "opentelemetry-collector",
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "0.108.0",
    )


class MonitoringConfig(Model):
    enabled: bool = Field(default=True, description="Master switch for everything below.")
    namespace: NamespaceName | None = Field(
        default=None, description="Namespace of the monitoring charts; default `<namespace>-monitoring`."
    )
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    service_monitors: bool = Field(default=True, description="A ServiceMonitor per service.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    dashboards: bool = Field(default=True, description="Grafana dashboards as ConfigMaps.")
    logs: LogsConfig = Field(default_factory=LogsConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    sentry: bool = Field(default=False, description="Inject SENTRY_DSN from the secret azora:sentryDsn.")

    @model_validator(mode="after")
    def _embedded_has_no_operator(self) -> MonitoringConfig:
        """The embedded Prometheus has no operator, Grafana or charts: asking for what needs them
        is an error rather than a silent no-op."""
        if not (self.enabled and self.prometheus.enabled and self.prometheus.mode == "embedded"):
            return self
        needs_chart = {
            ("serviceMonitors",): self.service_monitors,
            ("alerts", "enabled"): self.alerts.enabled,
            ("dashboards",): self.dashboards,
            ("logs", "enabled"): self.logs.enabled,
            ("tracing", "enabled"): self.tracing.enabled,
        }
        problems: list[tuple[tuple[str | int, ...], str]] = [
            (
                path,
                "needs prometheus.mode: chart (the embedded Prometheus has no operator, Grafana or charts); "
                "set it to false",
            )
            for path, on in needs_chart.items()
            if on
        ]
        if problems:
            raise NestedProblems(problems)
        return self


# ----------------------------------------------------------------------------- namespace


class QuotaConfig(Model):
    cpu: str | None = Field(default=None, description="limits.cpu of the ResourceQuota.")
    memory: str | None = Field(default=None, description="limits.memory of the ResourceQuota.")
    pods: Annotated[int, Field(ge=1)] | None = Field(default=None, description="Pod count cap.")

    @field_validator("cpu", "memory")
    @classmethod
    def _is_quantity(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value


class IngressConfig(Model):
    class_name: str = Field(default="nginx", description="IngressClass of the controller.")
    controller_namespace: str = Field(
        default="ingress-nginx", description="Namespace whose pods may reach exposed services."
    )
    cluster_issuer: str | None = Field(
        default=None, description="cert-manager ClusterIssuer; unset uses `tlsSecretName` as is."
    )
    tls_secret_name: str | None = Field(
        default=None, description="TLS Secret for the hosts; default `<namespace>-tls`."
    )
