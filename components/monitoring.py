"""MonitoringStack: Prometheus, Alertmanager and Grafana, Loki, an OpenTelemetry Collector,
and the Azora-specific pieces: a ServiceMonitor per service, alert rules and dashboards.

Logs: Loki rather than ECK. It indexes labels, not full text, so it runs in a few hundred MB
where Elasticsearch wants gigabytes, and Grafana (already here for metrics) queries it, so
on-call engineers use one UI for metrics and logs.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from azora.config.model import MonitoringConfig
from components import labels
from components.helm_release import HelmRelease
from components.prometheus import EmbeddedPrometheus

DASHBOARD_LABEL = "grafana_dashboard"


@dataclass(frozen=True)
class MonitoredService:
    """What monitoring needs to know of one Azora service."""

    name: str
    port: int


class MonitoringStackArgs(TypedDict):
    config: MonitoringConfig
    """The validated monitoring section of the stack config."""
    namespace: str
    """Namespace of the monitoring charts."""
    app_namespace: str
    """Namespace of the Azora services (ServiceMonitors and rules live there)."""
    services: Sequence[MonitoredService]
    """The services to scrape, alert on and draw."""
    render: NotRequired[bool]
    """True when the stack renders YAML instead of deploying."""
    skip_charts: NotRequired[bool | Collection[str]]
    """Third-party charts to leave out: True for all, or the parts whose chart to leave out
    ("prometheus", "logs", "tracing"), from the stack's `azora:skipCharts`."""


def alert_rules(service: str, namespace: str, config: MonitoringConfig) -> list[dict[str, Any]]:
    """PrometheusRule rules for one service: errors, latency, restarts, replicas, active colour."""
    alerts = config.alerts
    where = f'namespace="{namespace}",service="{service}"'
    pods = f'namespace="{namespace}",container="{service}"'
    colours = f'namespace="{namespace}",deployment=~"{service}-(blue|green)"'
    endpoint = f'namespace="{namespace}",endpoint="{service}",ready="true"'
    latency = f"rate(azora_http_request_duration_seconds_bucket{{{where}}}[5m])"
    labels_ = {"severity": "critical", "service": service}
    warning = {"severity": "warning", "service": service}
    ratio = alerts.error_rate_percent / 100
    return [
        {
            "alert": "AzoraHighErrorRate",
            "expr": f'sum(rate(azora_http_requests_total{{{where},code=~"5.."}}[5m])) '
            f"/ clamp_min(sum(rate(azora_http_requests_total{{{where}}}[5m])), 1e-9) > {ratio}",
            "for": "5m",
            "labels": labels_,
            "annotations": {"summary": f"{service}: more than {alerts.error_rate_percent}% of requests fail with 5xx"},
        },
        {
            "alert": "AzoraHighLatencyP95",
            "expr": f"histogram_quantile(0.95, sum by (le) ({latency})) > {alerts.p95_latency_seconds}",
            "for": "10m",
            "labels": warning,
            "annotations": {"summary": f"{service}: p95 latency above {alerts.p95_latency_seconds}s"},
        },
        {
            "alert": "AzoraPodRestarting",
            "expr": f"increase(kube_pod_container_status_restarts_total{{{pods}}}[1h]) > {alerts.restarts_per_hour}",
            "labels": warning,
            "annotations": {
                "summary": f"{service}: a container restarted more than {alerts.restarts_per_hour} times in an hour"
            },
        },
        {
            "alert": "AzoraReplicasUnavailable",
            "expr": f"kube_deployment_status_replicas_available{{{colours}}} "
            f"< kube_deployment_spec_replicas{{{colours}}}",
            "for": "10m",
            "labels": warning,
            "annotations": {"summary": f"{service}: fewer available replicas than desired"},
        },
        {
            "alert": "AzoraActiveColorNotReady",
            "expr": f"sum(kube_endpoint_address{{{endpoint}}}) == 0 or absent(kube_endpoint_address{{{endpoint}}})",
            "for": "1m",
            "labels": labels_,
            "annotations": {"summary": f"{service}: the active Service has no ready pods"},
        },
    ]


def dashboard(service: str, namespace: str) -> dict[str, Any]:
    """A Grafana dashboard for one service: traffic, errors, latency, pods per colour."""
    where = f'namespace="{namespace}",service="{service}"'
    colours = f'namespace="{namespace}",deployment=~"{service}-(blue|green)"'
    requests = f"sum(rate(azora_http_requests_total{{{where}}}[5m]))"
    errors = f'sum(rate(azora_http_requests_total{{{where},code=~"5.."}}[5m]))'

    def panel(index: int, title: str, expr: str, unit: str) -> dict[str, Any]:
        return {
            "id": index + 1,
            "type": "timeseries",
            "title": title,
            "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}},
            "targets": [{"expr": expr, "refId": "A"}],
        }

    return {
        "uid": f"azora-{service}"[:40],
        "title": f"Azora / {service}",
        "tags": ["azora", service],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "panels": [
            panel(0, "Requests per second", f"sum(rate(azora_http_requests_total{{{where}}}[5m]))", "reqps"),
            panel(
                1,
                "5xx ratio",
                f"{errors} / {requests}",
                "percentunit",
            ),
            panel(
                2,
                "p95 latency",
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(azora_http_request_duration_seconds_bucket{{{where}}}[5m])))",
                "s",
            ),
            panel(
                3,
                "Ready pods by colour",
                f"sum by (deployment) (kube_deployment_status_replicas_ready{{{colours}}})",
                "short",
            ),
        ],
    }


class MonitoringStack(pulumi.ComponentResource):
    """Metrics, alerts, dashboards, logs and traces for one stack, each part switchable."""

    grafana_admin_password: pulumi.Output[str] | None
    otlp_endpoint: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]  # the embedded Prometheus's in-cluster URL ("" for the chart)

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azora:monitoring:MonitoringStack", name, None, opts)
        config = args["config"]
        namespace = args["namespace"]
        app_namespace = args["app_namespace"]
        render = args.get("render", False)
        skip_charts = args.get("skip_charts", False)

        def skip(part: str) -> bool:
            return skip_charts is True or (not isinstance(skip_charts, bool) and part in skip_charts)

        child = pulumi.ResourceOptions(parent=self)

        # Grafana comes with the chart; the embedded Prometheus has none.
        self.grafana_admin_password: pulumi.Output[str] | None = None
        if config.prometheus.enabled and config.prometheus.mode == "chart":
            password = random.RandomPassword(
                f"{name}-grafana-admin",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            )
            self.grafana_admin_password = pulumi.Output.secret(password.result)

        crd_owners: list[pulumi.Resource] = []
        self.prometheus_url = pulumi.Output.from_input("")
        if config.prometheus.enabled and config.prometheus.mode == "embedded":
            embedded = EmbeddedPrometheus(
                f"{name}-prometheus",
                {
                    "namespace": namespace,
                    "app_namespace": app_namespace,
                    "image": config.prometheus.image,
                    "retention": config.prometheus.retention,
                    "scrape_interval": config.prometheus.scrape_interval,
                },
                opts=child,
            )
            self.prometheus_url = embedded.url
        elif config.prometheus.enabled:
            prometheus = HelmRelease(
                f"{name}-prometheus",
                {
                    "chart": config.prometheus.chart,
                    "namespace": namespace,
                    "render": render,
                    "skip": skip("prometheus"),
                    "defaults": {
                        "prometheus": {
                            "prometheusSpec": {
                                "retention": config.prometheus.retention,
                                # Pick up our ServiceMonitors and rules, not only the chart's own.
                                "serviceMonitorSelectorNilUsesHelmValues": False,
                                "ruleSelectorNilUsesHelmValues": False,
                            }
                        },
                        "grafana": {
                            "sidecar": {
                                "dashboards": {
                                    "enabled": True,
                                    "label": DASHBOARD_LABEL,
                                    "labelValue": "1",
                                    "searchNamespace": "ALL",
                                }
                            }
                        },
                    },
                    "secret_values": {"grafana": {"adminPassword": pulumi.Output.secret(password.result)}},
                },
                opts=child,
            )
            crd_owners.append(prometheus)

        # ServiceMonitor and PrometheusRule are CRDs of the Prometheus operator chart.
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=crd_owners)
        for service in args["services"]:
            if config.service_monitors:
                k8s.apiextensions.CustomResource(
                    f"{name}-{service.name}-monitor",
                    api_version="monitoring.coreos.com/v1",
                    kind="ServiceMonitor",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=service.name,
                        namespace=app_namespace,
                        labels=labels.standard(service.name, component="monitoring"),
                    ),
                    spec={
                        "selector": {"matchLabels": labels.selector(service.name)},
                        "namespaceSelector": {"matchNames": [app_namespace]},
                        # honorLabels: the pods' own service/color/version labels win over the
                        # operator's target labels, so the gates' queries read the same series
                        # here as on the embedded Prometheus.
                        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "honorLabels": True}],
                    },
                    opts=after_crds,
                )
            if config.alerts.enabled:
                k8s.apiextensions.CustomResource(
                    f"{name}-{service.name}-alerts",
                    api_version="monitoring.coreos.com/v1",
                    kind="PrometheusRule",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"{service.name}-alerts",
                        namespace=app_namespace,
                        labels=labels.standard(service.name, component="monitoring"),
                    ),
                    spec={
                        "groups": [
                            {"name": f"azora-{service.name}", "rules": alert_rules(service.name, app_namespace, config)}
                        ]
                    },
                    opts=after_crds,
                )
            if config.dashboards:
                k8s.core.v1.ConfigMap(
                    f"{name}-{service.name}-dashboard",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"{service.name}-dashboard",
                        namespace=namespace,
                        labels={**labels.standard(service.name, component="monitoring"), DASHBOARD_LABEL: "1"},
                    ),
                    data={f"{service.name}.json": json.dumps(dashboard(service.name, app_namespace), indent=2)},
                    opts=child,
                )

        if config.logs.enabled:
            HelmRelease(
                f"{name}-loki",
                {
                    "chart": config.logs.chart,
                    "namespace": namespace,
                    "render": render,
                    "skip": skip("logs"),
                    "defaults": {
                        "deploymentMode": "SingleBinary",
                        "loki": {"auth_enabled": False, "commonConfig": {"replication_factor": 1}},
                        "singleBinary": {"replicas": 1},
                    },
                },
                opts=child,
            )

        otlp = ""
        if config.tracing.enabled:
            HelmRelease(
                f"{name}-otel",
                {
                    "chart": config.tracing.chart,
                    "namespace": namespace,
                    "render": render,
                    "skip": skip("tracing"),
                    "defaults": {"mode": "deployment", "image": {"repository": "otel/opentelemetry-collector-k8s"}},
                },
                opts=child,
            )
            otlp = f"http://{name}-otel-opentelemetry-collector.{namespace}.svc.cluster.local:4317"
        self.otlp_endpoint = pulumi.Output.from_input(otlp)

        self.register_outputs(
            {
                "grafana_admin_password": self.grafana_admin_password,
                "otlp_endpoint": self.otlp_endpoint,
                "prometheus_url": self.prometheus_url,
            }
        )
