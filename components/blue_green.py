"""BlueGreenService: two coloured Deployments behind an active and a preview Service.

Names follow Argo Rollouts' blue/green strategy: `activeColor`, `activeService`,
`previewService`, `previewReplicas` (previewReplicaCount), `scaleDownDelaySeconds`.

The resource graph carries the safety rule "the active Service never selects a colour without
ready pods":

    Deployment(active colour) --> Service(active) --> Deployment(idle colour) --> Service(preview)

- The active Service depends on the active colour's Deployment. The Kubernetes provider only
  finishes a Deployment create or update once the rollout is Available (its await logic, no
  skipAwait), so when a switch scales the new colour up, the selector moves only after the new
  pods are ready.
- The idle colour's Deployment depends on the active Service, so scaling the old colour down
  (to previewReplicas) happens only after traffic has left it.
- Both Deployments keep their names and their immutable selectors for life, so changing
  `activeColor` updates the two Service selectors (and replica counts), never replaces a
  Deployment.
- The two Services carry `pulumi.com/skipAwait`. The provider's Service await ends with a fixed
  10-second "settle" after the last Endpoints event, which made every switch wait 20 s (two
  Services in a row) after traffic had already moved. What that wait would confirm, the graph
  above guarantees: a Service is created or re-pointed only once the Deployment it selects is
  Available, so its endpoints are ready pods. The Deployments keep the full await, and the
  live tests watch the EndpointSlices themselves.

Secrets (DATABASE_URL, REDIS_URL, SENTRY_DSN) reach the app as files, not environment variables:
the service's Secret is mounted read-only in SECRETS_DIR, one file per key, and `<NAME>_FILE`
names each (the convention of the official postgres and mysql images). Environment variables
leak into crash reports, `/proc/<pid>/environ` and child processes; a file is read when needed.
A service whose app cannot read files yet sets `secretsAsEnv` and gets both.

Where a Deployment deliberately differs from one of checkov's Kubernetes checks, it carries a
skip annotation with the reason (components/checkov.py): a tag without a digest in `digests`
(CKV_K8S_43), IfNotPresent for such a tag (CKV_K8S_15), secrets as env vars (CKV_K8S_35).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from azora.config.model import Color, ServiceConfig, ServiceStatus
from components import checkov, labels

RUN_AS_USER = 10001
# The provider returns from a create or update without its own readiness wait.
SKIP_AWAIT = "pulumi.com/skipAwait"
PRE_STOP_SECONDS = 5
TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds"
AWAIT_MARGIN_SECONDS = 10
# Where the app finds its secrets, one file per key; `<KEY>_FILE` names each.
SECRETS_DIR = "/var/run/secrets/azora"
SECRETS_MODE = 0o440  # owner root, group fsGroup (the app's): read-only, for the app only
# The read-only root's one writable place, /tmp (request bodies spooled to disk, a runtime's
# caches), lives on the node's disk: bounded, so a runaway writer evicts its own pod rather than
# filling the disk under every other pod (policy rule bounded-scratch-space).
TMP_SIZE_LIMIT = "512Mi"
PULL_POLICY_REASON = (
    "IfNotPresent on purpose (policy rule image-pull-policy): a node that has pulled the pinned tag "
    "starts its pods without the registry, so a registry outage cannot stop a restart or a rollback there"
)


class BlueGreenServiceArgs(TypedDict):
    environment: str
    """local, staging or production; labelled on workloads for the policy pack."""
    namespace: str
    """Namespace of every object of the service."""
    service: ServiceConfig
    """The validated config of this service (what a person asks for)."""
    status: ServiceStatus
    """Its release state (the active colour, recorded by the release workflow)."""
    replicas: Mapping[Color, int]
    """Pods per colour (StackConfig.replicas_for: full, preview count, or 0)."""
    host: NotRequired[str | None]
    """Ingress host; no Ingress when unset."""
    ingress_class: NotRequired[str]
    """IngressClass name for the Ingress."""
    tls_secret_name: NotRequired[str]
    """TLS Secret for the Ingress host."""
    cluster_issuer: NotRequired[str | None]
    """cert-manager ClusterIssuer that provisions the TLS Secret."""
    env: NotRequired[Mapping[str, str]]
    """Extra plain environment variables (on top of the service's own)."""
    secret_env: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Environment variables held in a Kubernetes Secret (values stay Pulumi secrets)."""


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        fs_group=RUN_AS_USER,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        privileged=False,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


class BlueGreenService(pulumi.ComponentResource):
    """One Azora service deployed blue/green."""

    active_color: pulumi.Output[str]
    active_service: pulumi.Output[str]
    preview_service: pulumi.Output[str]
    versions: pulumi.Output[dict[str, str]]
    health_url: pulumi.Output[str]

    def __init__(self, name: str, args: BlueGreenServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azora:deploy:BlueGreenService", name, None, opts)
        svc = args["service"]
        namespace = args["namespace"]
        self._svc_name = name
        self._ns = namespace
        self._svc = svc

        secret_ref = self._secret(args.get("secret_env", {}))
        env = {**args.get("env", {}), **svc.env}

        # Order matters: see the module docstring for the graph and why.
        active = args["status"].active_color
        idle = args["status"].idle_color
        active_deployment = self._deployment(active, args, env, secret_ref, depends_on=[])
        active_service = self._service(name, active, "active", depends_on=[active_deployment])
        preview_service_name: str | None = None
        if idle in svc.versions:
            idle_deployment = self._deployment(idle, args, env, secret_ref, depends_on=[active_service])
            self._service(f"{name}-preview", idle, "preview", depends_on=[idle_deployment])
            preview_service_name = f"{name}-preview"

        self._disruption_budget()
        if svc.autoscaling is not None:
            self._autoscaler(active, depends_on=[active_deployment])
        host = args.get("host")
        if host:
            self._ingress(host, args, depends_on=[active_service])

        self.active_color = pulumi.Output.from_input(active)
        self.active_service = active_service.metadata.name
        self.preview_service = pulumi.Output.from_input(preview_service_name or "")
        self.versions = pulumi.Output.from_input({str(color): tag for color, tag in svc.versions.items()})
        self.health_url = pulumi.Output.from_input(
            f"http://{name}.{namespace}.svc.cluster.local:{svc.port}{svc.health_path}"
        )
        self.register_outputs(
            {
                "active_color": self.active_color,
                "active_service": self.active_service,
                "preview_service": self.preview_service,
                "versions": self.versions,
                "health_url": self.health_url,
            }
        )

    # ------------------------------------------------------------------ children

    def _meta(self, object_name: str, extra: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name,
            namespace=self._ns,
            labels={**labels.standard(self._svc_name, component="service"), **(extra or {})},
        )

    def _secret(self, values: Mapping[str, pulumi.Input[str]]) -> str | None:
        """The service's Secret (one key per value), by name; None when it has no secrets. A pod
        created before it waits for its volume, so the Deployments need no edge to it."""
        self._secret_keys: list[str] = sorted(values)
        if not values:
            return None
        secret_name = f"{self._svc_name}-secrets"
        k8s.core.v1.Secret(
            secret_name,
            metadata=self._meta(secret_name),
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in values.items()},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret_name

    def _scanner_skips(self, color: Color, secret_name: str | None) -> dict[str, str]:
        """checkov's checks this colour's Deployment deliberately fails, with the reasons."""
        svc, tag = self._svc, self._svc.versions[color]
        skips: dict[str, str] = {}
        if tag not in svc.digests:
            skips["CKV_K8S_43"] = (
                f"no digest recorded for {svc.image}:{tag} (azora:services.{self._svc_name}.digests); it runs "
                "by its pinned release tag (policy rule image-tag-pinned: never latest, semver in production)"
            )
            skips["CKV_K8S_15"] = PULL_POLICY_REASON
        if secret_name and svc.secrets_as_env:
            skips["CKV_K8S_35"] = (
                f"azora:services.{self._svc_name}.secretsAsEnv: the app reads {', '.join(self._secret_keys)} "
                "from its environment only; each is also a file named by its _FILE variable"
            )
        return skips

    def _deployment(
        self,
        color: Color,
        args: BlueGreenServiceArgs,
        env: Mapping[str, str],
        secret_name: str | None,
        depends_on: list[pulumi.Resource],
    ) -> k8s.apps.v1.Deployment:
        svc = self._svc
        version = svc.versions.get(color)
        assert version is not None, "a colour without a version has no Deployment"
        replicas = args["replicas"][color]
        pod_labels = {
            **labels.standard(self._svc_name, component="service"),
            labels.ENVIRONMENT: args["environment"],
            labels.COLOR: color,
            labels.VERSION: labels.label_value(version),
        }
        env_vars = [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in sorted(env.items())]
        env_vars += [
            k8s.core.v1.EnvVarArgs(name="AZORA_COLOR", value=color),
            k8s.core.v1.EnvVarArgs(name="AZORA_VERSION", value=version),
            # Where the app listens and answers its probes (the stand-in image reads both).
            k8s.core.v1.EnvVarArgs(name="PORT", value=str(svc.port)),
            k8s.core.v1.EnvVarArgs(name="HEALTH_PATH", value=svc.health_path),
        ]
        volume_mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
        tmp = k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT)
        volumes = [k8s.core.v1.VolumeArgs(name="tmp", empty_dir=tmp)]
        if secret_name:
            env_vars += [
                k8s.core.v1.EnvVarArgs(name=f"{key}_FILE", value=f"{SECRETS_DIR}/{key}") for key in self._secret_keys
            ]
            if svc.secrets_as_env:
                env_vars += [
                    k8s.core.v1.EnvVarArgs(
                        name=key,
                        value_from=k8s.core.v1.EnvVarSourceArgs(
                            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
                        ),
                    )
                    for key in self._secret_keys
                ]
            volume_mounts.append(k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_DIR, read_only=True))
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="secrets",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret_name, default_mode=SECRETS_MODE),
                )
            )
        probe_port = "http"
        container = k8s.core.v1.ContainerArgs(
            name=self._svc_name,
            image=svc.image_for(color),
            image_pull_policy="IfNotPresent",
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=svc.port, protocol="TCP")],
            env=env_vars,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": str(svc.resources.requests.cpu), "memory": svc.resources.requests.memory},
                limits={"cpu": str(svc.resources.limits.cpu), "memory": svc.resources.limits.memory},
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=svc.health_path, port=probe_port),
                initial_delay_seconds=10,
                period_seconds=10,
                timeout_seconds=2,
                failure_threshold=3,
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=svc.health_path, port=probe_port),
                period_seconds=5,
                timeout_seconds=2,
                failure_threshold=3,
            ),
            security_context=container_security_context(),
            # A pod being stopped keeps serving this long: the Service's endpoints and every
            # node's proxy rules drop it first, so no request reaches a process that has exited.
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=PRE_STOP_SECONDS))
            ),
            # A read-only root filesystem still needs somewhere to write temporary files (tmp).
            volume_mounts=volume_mounts,
        )
        # Decided by the service, not the colour, so a switch never changes the pod template.
        spread = None
        if svc.replicas > 1 or (svc.autoscaling is not None and svc.autoscaling.max_replicas > 1):
            spread = [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key="kubernetes.io/hostname",
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels.selector(self._svc_name, color)),
                )
            ]
        metadata = self._meta(
            f"{self._svc_name}-{color}",
            {
                labels.ENVIRONMENT: args["environment"],
                labels.COLOR: color,
                labels.VERSION: labels.label_value(version),
            },
        )
        # The provider waits for the rollout no longer than Kubernetes gives it to progress (its
        # own default is 10 minutes whatever the deadline), so a release whose pods never turn
        # ready fails its update soon after ProgressDeadlineExceeded.
        metadata.annotations = {
            TIMEOUT_SECONDS: str(svc.progress_deadline_seconds + AWAIT_MARGIN_SECONDS),
            **checkov.skip_annotations(self._scanner_skips(color, secret_name)),
        }
        return k8s.apps.v1.Deployment(
            f"{self._svc_name}-{color}",
            metadata=metadata,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                revision_history_limit=5,
                progress_deadline_seconds=svc.progress_deadline_seconds,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels.selector(self._svc_name, color)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=pod_security_context(),
                        containers=[container],
                        volumes=volumes,
                        topology_spread_constraints=spread,
                        termination_grace_period_seconds=30,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    def _service(
        self, service_name: str, color: Color, role: str, depends_on: list[pulumi.Resource]
    ) -> k8s.core.v1.Service:
        meta = self._meta(service_name, {labels.SERVICE_ROLE: role})
        meta.annotations = {SKIP_AWAIT: "true"}  # see the module docstring: the graph orders it
        return k8s.core.v1.Service(
            f"{self._svc_name}-{role}",
            metadata=meta,
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=labels.selector(self._svc_name, color),
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=self._svc.port, target_port="http", protocol="TCP")
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    def _disruption_budget(self) -> None:
        # Both colours, so the budget does not move on a switch; one pod at a time may go.
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._svc_name}-pdb",
            metadata=self._meta(self._svc_name),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels.selector(self._svc_name)),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _autoscaler(self, color: Color, depends_on: list[pulumi.Resource]) -> None:
        scaling = self._svc.autoscaling
        assert scaling is not None
        # The HPA follows the active colour: a switch retargets it along with the selectors.
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self._svc_name}-hpa",
            metadata=self._meta(self._svc_name),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=f"{self._svc_name}-{color}"
                ),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization",
                                average_utilization=scaling.target_cpu_utilization_percentage,
                            ),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    def _ingress(self, host: str, args: BlueGreenServiceArgs, depends_on: list[pulumi.Resource]) -> None:
        ingress = self._svc.ingress
        assert ingress is not None
        annotations = {}
        if args.get("cluster_issuer"):
            annotations["cert-manager.io/cluster-issuer"] = str(args.get("cluster_issuer"))
        meta = self._meta(self._svc_name)
        meta.annotations = annotations or None
        k8s.networking.v1.Ingress(
            f"{self._svc_name}-ingress",
            metadata=meta,
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=args.get("ingress_class", "nginx"),
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=args.get("tls_secret_name"))],
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path=ingress.path,
                                    path_type="Prefix",
                                    backend=k8s.networking.v1.IngressBackendArgs(
                                        service=k8s.networking.v1.IngressServiceBackendArgs(
                                            name=self._svc_name,
                                            port=k8s.networking.v1.ServiceBackendPortArgs(name="http"),
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
