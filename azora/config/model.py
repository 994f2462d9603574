"""The validated stack config model: every `azora:*` key, its type, default and meaning.

Stack files hold data; this module turns it into typed objects with all defaults applied in
one place. Field names are snake_case in Python and camelCase in the stack file (the alias).
The README's configuration reference mirrors this file.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from azora.config.analysis import CheckConfig, ServiceAnalysis, StackAnalysis, reference_problems
from azora.config.base import COLORS, Color, Model, check_dns_label
from azora.config.errors import NestedProblems
from azora.config.images import digest_problems, reference, repository_problem, tag_problems
from azora.config.sections import (
    ChartSpec,
    IngressConfig,
    MonitoringConfig,
    PostgresConfig,
    QuotaConfig,
    RedisConfig,
)
from azora.config.status import LEGACY_STATUS_KEYS, ServiceStatus, other_color, split_legacy_status
from azora.quantity import parse_quantity

Environment = Literal["local", "staging", "production"]

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The longest suffix a service name receives ("-preview"), so derived names stay DNS labels.
_LONGEST_SUFFIX = len("-preview")


class SecretValue(Model):
    """A value held as a Pulumi secret (`pulumi config set --secret`); the model never sees it."""

    key: str


# ----------------------------------------------------------------------------- names


def _service_name(name: str) -> str:
    return check_dns_label(name, "service name", reserve=_LONGEST_SUFFIX)


def _release_name(name: str) -> str:
    return check_dns_label(name, "release name")


ServiceName = Annotated[str, AfterValidator(_service_name)]
ReleaseName = Annotated[str, AfterValidator(_release_name)]

# ----------------------------------------------------------------------------- services


class ResourceAmounts(Model):
    cpu: str | int = Field(description="CPU quantity, e.g. 100m or 1.")
    memory: str = Field(description="Memory quantity, e.g. 256Mi.")

    @field_validator("cpu", "memory")
    @classmethod
    def _is_quantity(cls, value: str | int) -> str:
        parse_quantity(value)
        return str(value)

    def cpu_cores(self) -> Decimal:
        return parse_quantity(self.cpu)

    def memory_bytes(self) -> Decimal:
        return parse_quantity(self.memory)


class Resources(Model):
    requests: ResourceAmounts = Field(description="What the scheduler reserves per pod.")
    limits: ResourceAmounts = Field(description="The most a pod may use; must be >= requests.")

    @field_validator("limits")
    @classmethod
    def _limits_cover_requests(cls, limits: ResourceAmounts, info: ValidationInfo) -> ResourceAmounts:
        requests: ResourceAmounts | None = info.data.get("requests")
        if requests is None:
            return limits
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if limits.cpu_cores() < requests.cpu_cores():
            problems.append((("cpu",), f"limit {limits.cpu} is below the request {requests.cpu}"))
        if limits.memory_bytes() < requests.memory_bytes():
            problems.append((("memory",), f"limit {limits.memory} is below the request {requests.memory}"))
        if problems:
            raise NestedProblems(problems)
        return limits


class Autoscaling(Model):
    min_replicas: Annotated[int, Field(ge=1)] = Field(description="HPA floor.")
    max_replicas: Annotated[int, Field(ge=1)] = Field(description="HPA ceiling; >= minReplicas.")
    target_cpu_utilization_percentage: Annotated[int, Field(ge=1, le=100)] = Field(
        default=70,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU utilisation the HPA aims for.",
    )

    @field_validator("max_replicas")
    @classmethod
    def _max_not_below_min(cls, maximum: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_replicas")
        if minimum is not None and minimum > maximum:
            raise ValueError(f"must be >= minReplicas ({minimum}), got {maximum}")
        return maximum


class ServiceIngress(Model):
    subdomain: str | None = Field(
        default=None,
        description="Host is `<subdomain>.<domain>`; '' means the bare domain; unset means the service name.",
    )
    path: str = Field(default="/", description="Path prefix routed to the service.")

    @field_validator("path")
    @classmethod
    def _path_absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"must start with '/', got {path!r}")
        return path

    @field_validator("subdomain")
    @classmethod
    def _subdomain_dns(cls, subdomain: str | None) -> str | None:
        if subdomain:
            check_dns_label(subdomain, "subdomain")
        return subdomain


class ServiceConfig(Model):
    image: str = Field(description="Image repository without tag, e.g. ghcr.io/azora/web.")
    versions: dict[Color, str] = Field(description="Image tag per colour: {blue: ..., green: ...}.")
    digests: dict[str, str] = Field(
        default_factory=dict,
        description='Image digest per tag, as the registry reports it ({"2.4.0": sha256:<64 hex>}): a colour '
        "on a pinned tag runs `image:tag@digest`, any other tag runs by tag.",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = Field(description="Container port.")
    replicas: Annotated[int, Field(ge=1)] = Field(description="Pods of the active colour.")
    preview_replicas: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="Pods of the idle colour before promotion (Argo's previewReplicaCount); "
        "default 1 in staging and production, 0 in local.",
    )
    scale_down_delay_seconds: Annotated[int, Field(ge=0)] = Field(
        default=30,
        description="After a promotion, how long the old colour keeps its replicas (fast rollback).",
    )
    auto_promotion: bool = Field(
        default=False, description="`azora deploy` promotes on its own after preview smoke passes."
    )
    health_path: str = Field(description="HTTP path for probes and smoke checks.")
    progress_deadline_seconds: Annotated[int, Field(ge=10, le=3600)] = Field(
        default=600,
        description="Seconds a release's pods may take to become ready before its Deployment reports "
        "ProgressDeadlineExceeded and the update fails, naming the Deployment (Kubernetes' "
        "progressDeadlineSeconds).",
    )
    resources: Resources = Field(description="Requests and limits per pod.")
    autoscaling: Autoscaling | None = Field(default=None, description="Optional HPA on the active colour.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Plain environment variables; secrets go in secret config."
    )
    secrets_as_env: bool = Field(
        default=False,
        description="Secrets (DATABASE_URL, ...) are files named by `<NAME>_FILE`; true also passes them as "
        "env vars, for an app that cannot read files yet (checkov's CKV_K8S_35 is then skipped, saying so).",
    )
    ingress: ServiceIngress | None = Field(default=None, description="Expose through the ingress controller.")
    talks_to: list[str] = Field(
        default_factory=list,
        description="Services (or postgresql, redis) this one may open connections to.",
    )
    analysis: ServiceAnalysis = Field(
        default_factory=ServiceAnalysis,
        description="This service's promotion gates; unset lists take `azora:analysis`'s.",
    )

    @field_validator("image")
    @classmethod
    def _image_repository(cls, image: str) -> str:
        problem = repository_problem(image)
        if problem:
            raise ValueError(problem)
        return image

    @field_validator("versions")
    @classmethod
    def _versions_are_tags(cls, versions: dict[Color, str]) -> dict[Color, str]:
        if not versions:
            raise ValueError("needs a version for at least one colour")
        problems = tag_problems(versions)
        if problems:
            raise NestedProblems(problems)
        return versions

    @field_validator("digests")
    @classmethod
    def _digests_pin_tags(cls, digests: dict[str, str]) -> dict[str, str]:
        problems = digest_problems(digests)
        if problems:
            raise NestedProblems(problems)
        return digests

    @field_validator("health_path")
    @classmethod
    def _health_path_absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"must start with '/', got {path!r}")
        return path

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        problems: list[tuple[tuple[str | int, ...], str]] = [
            ((name,), "is not a valid environment variable name") for name in env if not ENV_NAME.match(name)
        ]
        if problems:
            raise NestedProblems(problems)
        return env

    def image_for(self, color: Color) -> str:
        """The image reference a colour runs: `image:tag`, with `@digest` when `digests` pins its tag."""
        tag = self.versions[color]
        return reference(self.image, tag, self.digests.get(tag))


# ----------------------------------------------------------------------------- the stack

SECRET_KEYS = ("sentryDsn", "postgresqlUrl", "redisUrl")
DATA_STORES = ("postgresql", "redis")


class StackConfig(Model):
    """Everything under the `azora:` namespace of one stack file."""

    environment: Environment = Field(description="Kind of stack; sets defaults and production-only policy rules.")
    namespace: str = Field(description="Namespace of the Azora services (DNS-1123 label).")
    domain: str = Field(description="Base host for ingress, e.g. staging.azora.example.")
    pod_security: Literal["restricted", "baseline", "privileged"] = Field(
        default="restricted", description="Pod Security Admission level enforced on the namespace."
    )
    quota: QuotaConfig = Field(
        default_factory=QuotaConfig, description="ResourceQuota overrides; default sized from services."
    )
    ingress: IngressConfig = Field(default_factory=IngressConfig, description="How services are exposed.")
    postgresql: PostgresConfig = Field(default_factory=PostgresConfig, description="The PostgreSQL data store.")
    redis: RedisConfig = Field(default_factory=RedisConfig, description="The Redis data store.")
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="Metrics, alerts, dashboards, logs, traces."
    )
    releases: dict[ReleaseName, ChartSpec] = Field(
        default_factory=dict, description="Other third-party Helm charts by release name."
    )
    render_dir: str | None = Field(default=None, description="Write manifests to this directory instead of a cluster.")
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig file of the target cluster (relative paths: from the project root); "
        "default: the ambient KUBECONFIG. The local stack names the embedded cluster's.",
    )
    skip_charts: bool | list[str] = Field(
        default=False,
        description="Third-party charts to leave out: true for all, or a list of chart keys such as "
        "releases.ingress-nginx or monitoring.prometheus.chart (set by `azora render` for the charts "
        "whose repositories do not answer).",
    )
    sentry_dsn: SecretValue | None = Field(default=None, description="Secret: Sentry DSN.")
    postgresql_url: SecretValue | None = Field(default=None, description="Secret: URL of an external PostgreSQL.")
    redis_url: SecretValue | None = Field(default=None, description="Secret: URL of an external Redis.")
    services: dict[ServiceName, ServiceConfig] = Field(description="The Azora services by name.")
    analysis: StackAnalysis = Field(
        default_factory=StackAnalysis,
        description="Promotion gates on live metrics: every service's defaults and the Prometheus they query.",
    )
    status: dict[ServiceName, ServiceStatus] = Field(
        default_factory=dict,
        description="Release state per service, written by the release workflow (deploy, promote, "
        "scale-down, rollback), apart from what people write; a service without an entry is on blue.",
    )

    @field_validator("namespace")
    @classmethod
    def _namespace_dns(cls, namespace: str) -> str:
        return check_dns_label(namespace, "namespace")

    @field_validator("skip_charts", mode="before")
    @classmethod
    def _skip_charts_shape(cls, value: Any) -> Any:
        # `pulumi config set azora:skipCharts true` stores the string "true" (Pulumi's get_bool
        # also reads "True" and "False").
        if isinstance(value, str):
            value = {"true": True, "True": True, "false": False, "False": False}.get(value, value)
        if isinstance(value, bool):
            return value
        if not isinstance(value, list):
            shown = "a mapping" if isinstance(value, dict) else repr(value)
            raise ValueError(f"must be true, false or a list of chart keys, got {shown}")
        problems: list[tuple[tuple[str | int, ...], str]] = [
            ((index,), f"must be a chart key (a string), got {item!r}")
            for index, item in enumerate(value)
            if not isinstance(item, str)
        ]
        if problems:
            raise NestedProblems(problems)
        return value

    @field_validator("domain")
    @classmethod
    def _domain_dns(cls, domain: str) -> str:
        if not DNS_SUBDOMAIN.match(domain) or len(domain) > 253:
            raise ValueError(f"is not a DNS name: {domain!r}")
        return domain

    @field_validator("services")
    @classmethod
    def _services_consistent(cls, services: dict[str, ServiceConfig], info: ValidationInfo) -> dict[str, ServiceConfig]:
        if not services:
            raise ValueError("must name at least one service")
        problems: list[tuple[tuple[str | int, ...], str]] = []
        stores = {
            store
            for store in DATA_STORES
            if (section := info.data.get(store)) is not None and section.mode != "disabled"
        }
        for name, service in services.items():
            for index, peer in enumerate(service.talks_to):
                if peer == name:
                    problems.append(((name, "talksTo", index), "a service does not need to allow itself"))
                elif peer not in services and peer not in stores:
                    known = sorted(set(services) | stores)
                    problems.append(
                        (
                            (name, "talksTo", index),
                            f"{peer!r} is not a service or an enabled data store (known: {', '.join(known)})",
                        )
                    )
        if problems:
            raise NestedProblems(problems)
        return services

    @model_validator(mode="after")
    def _secrets_present(self) -> StackConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.postgresql.mode == "external" and self.postgresql_url is None:
            problems.append(
                (
                    ("postgresqlUrl",),
                    "is required when postgresql.mode is external (pulumi config set --secret azora:postgresqlUrl ...)",
                )
            )
        if self.redis.mode == "external" and self.redis_url is None:
            problems.append(
                (
                    ("redisUrl",),
                    "is required when redis.mode is external (pulumi config set --secret azora:redisUrl ...)",
                )
            )
        if self.monitoring.enabled and self.monitoring.sentry and self.sentry_dsn is None:
            problems.append(
                (
                    ("sentryDsn",),
                    "is required when monitoring.sentry is true (pulumi config set --secret azora:sentryDsn ...)",
                )
            )
        if problems:
            raise NestedProblems(problems)
        return self

    @model_validator(mode="after")
    def _skipped_charts_exist(self) -> StackConfig:
        if isinstance(self.skip_charts, bool):
            return self
        known = self.remote_charts()
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, key in enumerate(self.skip_charts):
            if key not in known:
                names = ", ".join(known) or "none"
                message = f"{key!r} is not a chart this stack fetches from a repository (known: {names})"
                problems.append((("skipCharts", index), message))
            elif key in self.skip_charts[:index]:
                problems.append((("skipCharts", index), f"{key!r} is listed twice"))
        if problems:
            raise NestedProblems(problems)
        return self

    @model_validator(mode="after")
    def _status_consistent(self) -> StackConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name, status in self.status.items():
            service = self.services.get(name)
            if service is None:
                known = ", ".join(sorted(self.services))
                problems.append(((name,), f"is not a service (services: {known})"))
            elif status.active_color not in service.versions:
                has = ", ".join(service.versions)
                message = f"{status.active_color!r} has no entry in services.{name}.versions (has: {has})"
                problems.append(((name, "activeColor"), message))
        if problems:
            raise NestedProblems([(("status", *path), message) for path, message in problems])
        return self

    @model_validator(mode="after")
    def _analysis_references(self) -> StackConfig:
        problems = reference_problems(self.analysis, {n: s.analysis for n, s in self.services.items()})
        if problems:
            raise NestedProblems(problems)
        return self

    # ------------------------------------------------------------------ derived values

    def gate_for(self, name: str, phase: str) -> list[CheckConfig]:
        """The checks of a service's `prePromotion` or `postPromotion` gate (its own, else the stack's)."""
        attribute = "pre_promotion" if phase == "prePromotion" else "post_promotion"
        own = getattr(self.services[name].analysis, attribute)
        return list(own if own is not None else getattr(self.analysis, attribute) or [])

    def status_of(self, name: str) -> ServiceStatus:
        """The release state of a service (the defaults when the workflow recorded none)."""
        return self.status.get(name) or ServiceStatus()

    def replicas_for(self, name: str, color: Color) -> int:
        """How many pods `color` of a service runs: full for the active colour (and for the idle
        one while it is scaled up), the preview count for the idle one, 0 without a version."""
        service, status = self.services[name], self.status_of(name)
        if color == status.active_color or (status.idle_scaled_up and color in service.versions):
            return service.replicas
        if color not in service.versions:
            return 0
        return service.preview_replicas if service.preview_replicas is not None else self.preview_replicas_default

    @property
    def preview_replicas_default(self) -> int:
        return 0 if self.environment == "local" else 1

    @property
    def monitoring_namespace(self) -> str:
        return self.monitoring.namespace or f"{self.namespace}-monitoring"

    @property
    def tls_secret_name(self) -> str:
        return self.ingress.tls_secret_name or f"{self.namespace}-tls"

    def remote_charts(self) -> dict[str, ChartSpec]:
        """Every enabled third-party chart fetched from a repository, by where it is configured."""
        charts: dict[str, ChartSpec] = {}
        for name, spec in self.releases.items():
            charts[f"releases.{name}"] = spec
        for store in ("postgresql", "redis"):
            section = getattr(self, store)
            if section.mode == "in-cluster":
                charts[f"{store}.chart"] = section.chart
        if self.monitoring.enabled:
            for part in ("prometheus", "logs", "tracing"):
                section = getattr(self.monitoring, part)
                embedded = part == "prometheus" and self.monitoring.prometheus.mode == "embedded"
                if section.enabled and not embedded:
                    charts[f"monitoring.{part}.chart"] = section.chart
        return {key: spec for key, spec in charts.items() if spec.enabled and spec.repo}

    def skips_chart(self, key: str) -> bool:
        """Whether `skipCharts` leaves out the chart at `key` (a key of `remote_charts()`)."""
        return self.skip_charts is True or (isinstance(self.skip_charts, list) and key in self.skip_charts)

    def host_for(self, name: str) -> str | None:
        """The ingress host of a service, or None when it is not exposed."""
        ingress = self.services[name].ingress
        if ingress is None:
            return None
        subdomain = name if ingress.subdomain is None else ingress.subdomain
        return f"{subdomain}.{self.domain}" if subdomain else self.domain


__all__ = [
    "COLORS",
    "LEGACY_STATUS_KEYS",
    "Color",
    "Model",
    "ServiceStatus",
    "StackConfig",
    "other_color",
    "split_legacy_status",
]
