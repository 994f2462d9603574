"""AzoraPlatform: one stack of Azora, composed from the validated config model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from azora import outputs
from azora.config.model import COLORS, StackConfig
from components import network
from components.blue_green import BlueGreenService
from components.helm_release import HelmRelease
from components.monitoring import MonitoredService, MonitoringStack
from components.namespace import Namespace
from components.quota import quota_for

# Values that keep the Bitnami data-store charts inside our pod security and policy rules.
_STORE_POD_DEFAULTS: dict[str, Any] = {
    "podSecurityContext": {"enabled": True, "fsGroup": 1001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containerSecurityContext": {
        "enabled": True,
        "runAsUser": 1001,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "automountServiceAccountToken": False,
    "podLabels": {"app.kubernetes.io/part-of": "azora"},
    "resources": {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    },
}


class AzoraPlatformArgs(TypedDict):
    config: StackConfig
    """The validated stack config."""
    secrets: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Secret config values by key (sentryDsn, postgresqlUrl, redisUrl), as Pulumi secrets."""
    kubeconfig: NotRequired[str | None]
    """Kubeconfig contents or path for the cluster; ambient config when unset."""


class AzoraPlatform(pulumi.ComponentResource):
    """Namespaces, data stores, monitoring and every Azora service of one stack."""

    namespace: pulumi.Output[str]
    services: pulumi.Output[dict[str, Any]]
    grafana_admin_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: AzoraPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        config = args["config"]
        secrets = dict(args.get("secrets", {}))
        render = config.render_dir is not None
        skip = config.skips_chart  # by chart key, e.g. "releases.ingress-nginx" (azora:skipCharts)
        super().__init__("azora:platform:AzoraPlatform", name, None, opts)
        provider = self._make_provider(name, config, args.get("kubeconfig"))
        # Every Kubernetes object below goes through this provider; components pass it on.
        providers = {"kubernetes": provider} if provider is not None else None

        def under(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, providers=providers, depends_on=list(depends_on))

        child = under()
        monitoring_on = config.monitoring.enabled

        # ------------------------------------------------------------ third-party namespaces
        platform_namespaces: dict[str, Namespace] = {}

        def platform_namespace(ns: str, edge: bool = False) -> Namespace:
            if ns not in platform_namespaces and ns != config.namespace:
                platform_namespaces[ns] = Namespace(
                    f"{name}-{ns}",
                    {
                        "name": ns,
                        "part_of": ns,
                        "pod_security": "baseline",
                        "network_policies": network.platform_policies(accept_from_anywhere=edge),
                    },
                    opts=child,
                )
            return platform_namespaces[ns]

        for chart in config.releases.values():
            if chart.enabled and chart.namespace:
                platform_namespace(chart.namespace, edge=chart.namespace == config.ingress.controller_namespace)

        # ------------------------------------------------------------ the app namespace
        stores_in_cluster = tuple(
            store
            for store, section in (("postgresql", config.postgresql), ("redis", config.redis))
            if section.mode == "in-cluster"
        )
        stores_external = tuple(
            store
            for store, section in (("postgresql", config.postgresql), ("redis", config.redis))
            if section.mode == "external"
        )
        plan = network.TrafficPlan(
            services={
                svc_name: network.ServiceTraffic(
                    port=svc.port, exposed=svc.ingress is not None, talks_to=tuple(svc.talks_to)
                )
                for svc_name, svc in config.services.items()
            },
            ingress_namespace=config.ingress.controller_namespace,
            monitoring_namespace=config.monitoring_namespace if monitoring_on else None,
            in_cluster_stores=stores_in_cluster,
            external_stores=stores_external,
            sentry=monitoring_on and config.monitoring.sentry,
        )
        app_namespace = Namespace(
            f"{name}-namespace",
            {
                "name": config.namespace,
                "pod_security": config.pod_security,
                "quota": quota_for(config),
                "network_policies": network.app_policies(plan),
            },
            opts=child,
        )
        in_app = under(app_namespace)

        # ------------------------------------------------------------ releases and data stores
        for release_name, chart in config.releases.items():
            if not chart.enabled:
                continue
            depends = (
                [platform_namespaces[chart.namespace]] if chart.namespace in platform_namespaces else [app_namespace]
            )
            HelmRelease(
                release_name,
                {
                    "chart": chart,
                    "namespace": config.namespace,
                    "render": render,
                    "skip": skip(f"releases.{release_name}"),
                },
                opts=under(*depends),
            )

        urls: dict[str, pulumi.Input[str]] = {}
        if config.postgresql.mode == "in-cluster":
            password = random.RandomPassword(
                f"{name}-postgresql-password",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            )
            pg = config.postgresql
            HelmRelease(
                "postgresql",
                {
                    "chart": pg.chart,
                    "namespace": config.namespace,
                    "render": render,
                    "skip": skip("postgresql.chart"),
                    "defaults": {
                        "fullnameOverride": "postgresql",
                        "auth": {"username": pg.username, "database": pg.database},
                        "primary": _STORE_POD_DEFAULTS,
                    },
                    "secret_values": {"auth": {"password": pulumi.Output.secret(password.result)}},
                },
                opts=in_app,
            )
            urls["DATABASE_URL"] = pulumi.Output.secret(
                pulumi.Output.concat(
                    "postgresql://",
                    pg.username,
                    ":",
                    password.result,
                    f"@postgresql.{config.namespace}.svc.cluster.local:5432/{pg.database}",
                )
            )
        elif config.postgresql.mode == "external":
            urls["DATABASE_URL"] = pulumi.Output.secret(secrets["postgresqlUrl"])
        if config.redis.mode == "in-cluster":
            redis_password = random.RandomPassword(
                f"{name}-redis-password",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            )
            HelmRelease(
                "redis",
                {
                    "chart": config.redis.chart,
                    "namespace": config.namespace,
                    "render": render,
                    "skip": skip("redis.chart"),
                    "defaults": {
                        "fullnameOverride": "redis",
                        "architecture": "standalone",
                        "master": _STORE_POD_DEFAULTS,
                    },
                    "secret_values": {"auth": {"password": pulumi.Output.secret(redis_password.result)}},
                },
                opts=in_app,
            )
            urls["REDIS_URL"] = pulumi.Output.secret(
                pulumi.Output.concat(
                    "redis://:", redis_password.result, f"@redis-master.{config.namespace}.svc.cluster.local:6379/0"
                )
            )
        elif config.redis.mode == "external":
            urls["REDIS_URL"] = pulumi.Output.secret(secrets["redisUrl"])

        # ------------------------------------------------------------ monitoring
        self.grafana_admin_password = None
        self.prometheus_url: pulumi.Output[str] | None = None
        otlp_endpoint: pulumi.Output[str] | None = None
        if monitoring_on:
            monitoring_namespace = platform_namespace(config.monitoring_namespace)
            monitoring = MonitoringStack(
                "monitoring",
                {
                    "config": config.monitoring,
                    "namespace": config.monitoring_namespace,
                    "app_namespace": config.namespace,
                    "services": [MonitoredService(n, s.port) for n, s in config.services.items()],
                    "render": render,
                    "skip_charts": {p for p in ("prometheus", "logs", "tracing") if skip(f"monitoring.{p}.chart")},
                },
                opts=under(monitoring_namespace, app_namespace),
            )
            self.grafana_admin_password = monitoring.grafana_admin_password
            if config.monitoring.prometheus.enabled and config.monitoring.prometheus.mode == "embedded":
                self.prometheus_url = monitoring.prometheus_url
            if config.monitoring.tracing.enabled:
                otlp_endpoint = monitoring.otlp_endpoint
        sentry_dsn = secrets.get("sentryDsn") if monitoring_on and config.monitoring.sentry else None

        # ------------------------------------------------------------ services
        exported: dict[str, Any] = {}
        for svc_name, svc in config.services.items():
            secret_env: dict[str, pulumi.Input[str]] = {}
            if "postgresql" in svc.talks_to and "DATABASE_URL" in urls:
                secret_env["DATABASE_URL"] = urls["DATABASE_URL"]
            if "redis" in svc.talks_to and "REDIS_URL" in urls:
                secret_env["REDIS_URL"] = urls["REDIS_URL"]
            if sentry_dsn is not None:
                secret_env["SENTRY_DSN"] = sentry_dsn
            env = {"AZORA_ENVIRONMENT": config.environment, "AZORA_SERVICE": svc_name}
            # Each Azora service it talks to, by the cluster DNS name of its active Service
            # (`API_GATEWAY_URL`, as DATABASE_URL for a data store).
            for peer in svc.talks_to:
                if peer in config.services:
                    host = f"{peer}.{config.namespace}.svc.cluster.local"
                    env[peer.upper().replace("-", "_") + "_URL"] = f"http://{host}:{config.services[peer].port}"
            if otlp_endpoint is not None:
                env["OTEL_SERVICE_NAME"] = svc_name
            service = BlueGreenService(
                svc_name,
                {
                    "environment": config.environment,
                    "namespace": config.namespace,
                    "service": svc,
                    "status": config.status_of(svc_name),
                    "replicas": {color: config.replicas_for(svc_name, color) for color in COLORS},
                    "host": config.host_for(svc_name),
                    "ingress_class": config.ingress.class_name,
                    "tls_secret_name": config.tls_secret_name,
                    "cluster_issuer": config.ingress.cluster_issuer,
                    "env": env,
                    "secret_env": secret_env,
                },
                opts=in_app,
            )
            exported[svc_name] = outputs.service_record(
                active_color=service.active_color,
                active_service=service.active_service,
                preview_service=service.preview_service,
                versions=service.versions,
                health_url=service.health_url,
                public_url=outputs.public_url(config, svc_name),
            )

        self.namespace = app_namespace.namespace_name
        self.services = pulumi.Output.from_input(exported)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "services": self.services,
                "grafana_admin_password": self.grafana_admin_password,
            }
        )

    def _make_provider(self, name: str, config: StackConfig, kubeconfig: str | None) -> k8s.Provider | None:
        """A render-to-directory provider, or one for an explicit kubeconfig, or None (ambient)."""
        opts = pulumi.ResourceOptions(parent=self)
        if config.render_dir is not None:
            return k8s.Provider(f"{name}-render", render_yaml_to_directory=config.render_dir, opts=opts)
        if kubeconfig:
            return k8s.Provider(f"{name}-cluster", kubeconfig=kubeconfig, opts=opts)
        return None
