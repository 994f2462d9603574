"""EmbeddedPrometheus: one Prometheus pod that scrapes every Azora pod of the stack, for a
cluster without the Prometheus operator (the embedded cluster; `azora:monitoring.prometheus.mode:
embedded`). Staging and production run kube-prometheus-stack instead (monitoring.py); the gates
query either the same way, since both keep the pods' own `service`, `color` and `version` labels.

Discovery is Prometheus's own `kubernetes_sd_configs` (role: pod) in the app namespace, with the
pod's ServiceAccount token: a Role lets it list and watch pods there, nothing more. A pod is a
target when it is part of Azora and has a container port named `http`; its series get the
`namespace`, `pod`, `service`, `color` and `version` labels from the pod's own labels
(`honor_labels` keeps the app's when it exports them, as the stand-in does).

The image is built on the embedded cluster from the toolchain's Prometheus (its Go module, with
only Kubernetes discovery; Debian's package has none) by azora/images,
never pulled; the Deployment says so in its policy exemptions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import labels
from components.blue_green import container_security_context

NAME = "prometheus"
PORT = 9090
DEADLINE = 120  # seconds the pod may take to turn ready (progressDeadlineSeconds)
RUN_AS = 65534  # nobody, as Debian's package runs it
CONFIG_PATH = "/etc/prometheus"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# The TSDB lives in an emptyDir on the node's disk, so it is bounded (policy rule
# bounded-scratch-space). The local stack keeps 2h of a few hundred series scraped every 2s: tens
# of MiB at most, WAL included; 1Gi also holds the default 15d at 5s for a stack of this size. Prometheus
# deletes its oldest blocks once blocks, WAL and head chunks pass RETENTION_SIZE (its units are
# powers of 2), so it stays under the limit rather than being evicted by the kubelet, which would
# lose every sample; the rest is margin for the head (retention cannot delete it) and compaction.
DATA_SIZE_LIMIT = "1Gi"
RETENTION_SIZE = "768MB"
EXEMPTIONS = (
    "no-service-account-token: Prometheus discovers the stack's pods through the Kubernetes API, "
    "and its Role only lists and watches pods of the app namespace\n"
    "allowed-registries: built on the embedded cluster from the toolchain's Prometheus binary, never pulled"
)


def _meta_label(label: str) -> str:
    """A pod label as Kubernetes service discovery names it (`__meta_kubernetes_pod_label_<name>`)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def scrape_config(app_namespace: str, scrape_interval: str) -> dict[str, Any]:
    """prometheus.yml: the Azora pods of `app_namespace`, every `scrape_interval`."""
    relabel: list[dict[str, Any]] = [
        {"source_labels": [_meta_label(labels.PART_OF_LABEL)], "regex": labels.PART_OF, "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "http", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": [_meta_label(labels.NAME)], "target_label": "service"},
        {"source_labels": [_meta_label(labels.COLOR)], "target_label": "color"},
        {"source_labels": [_meta_label(labels.VERSION)], "target_label": "version"},
    ]
    return {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval, "evaluation_interval": "1m"},
        "scrape_configs": [
            {
                "job_name": "azora-pods",
                "honor_labels": True,
                "metrics_path": "/metrics",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [app_namespace]}}],
                "relabel_configs": relabel,
            }
        ],
    }


class EmbeddedPrometheusArgs(TypedDict):
    namespace: str
    """Where Prometheus runs (the monitoring namespace)."""
    app_namespace: str
    """Whose pods it scrapes."""
    image: str
    retention: str
    scrape_interval: str


class EmbeddedPrometheus(pulumi.ComponentResource):
    """ServiceAccount, Role and RoleBinding (list pods), ConfigMap, Deployment and Service `prometheus`."""

    url: pulumi.Output[str]

    def __init__(self, name: str, args: EmbeddedPrometheusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azora:monitoring:EmbeddedPrometheus", name, None, opts)
        namespace, app_namespace = args["namespace"], args["app_namespace"]
        child = pulumi.ResourceOptions(parent=self)
        own = labels.standard(NAME, component="monitoring")

        def meta(object_name: str, where: str = namespace) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=where, labels=own)

        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=meta(NAME), automount_service_account_token=False, opts=child
        )
        role = k8s.rbac.v1.Role(
            f"{name}-discovery",
            metadata=meta(f"{NAME}-discovery", app_namespace),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])],
            opts=child,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-discovery",
            metadata=meta(f"{NAME}-discovery", app_namespace),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=f"{NAME}-discovery"
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=namespace)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta(f"{NAME}-config"),
            data={
                "prometheus.yml": yaml.safe_dump(scrape_config(app_namespace, args["scrape_interval"]), sort_keys=False)
            },
            opts=child,
        )
        pod_labels = {**labels.selector(NAME), labels.COMPONENT: "monitoring"}
        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=args["image"],
            image_pull_policy="IfNotPresent",
            args=[
                f"--config.file={CONFIG_PATH}/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={args['retention']}",
                f"--storage.tsdb.retention.size={RETENTION_SIZE}",
                f"--web.listen-address=:{PORT}",
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="web", container_port=PORT, protocol="TCP")],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "128Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/ready", port="web"), period_seconds=5
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/healthy", port="web"),
                initial_delay_seconds=10,
                period_seconds=10,
            ),
            security_context=container_security_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_PATH, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/prometheus"),
                k8s.core.v1.VolumeMountArgs(name="token", mount_path=TOKEN_PATH, read_only=True),
            ],
        )
        # The token is mounted explicitly (a projected volume, one hour, rotated by the kubelet)
        # rather than by automount, so the pod spec shows exactly what it holds.
        token = k8s.core.v1.ProjectedVolumeSourceArgs(
            sources=[
                k8s.core.v1.VolumeProjectionArgs(
                    service_account_token=k8s.core.v1.ServiceAccountTokenProjectionArgs(
                        path="token", expiration_seconds=3600
                    )
                ),
                k8s.core.v1.VolumeProjectionArgs(
                    config_map=k8s.core.v1.ConfigMapProjectionArgs(
                        name="kube-root-ca.crt", items=[k8s.core.v1.KeyToPathArgs(key="ca.crt", path="ca.crt")]
                    )
                ),
                k8s.core.v1.VolumeProjectionArgs(
                    downward_api=k8s.core.v1.DownwardAPIProjectionArgs(
                        items=[
                            k8s.core.v1.DownwardAPIVolumeFileArgs(
                                path="namespace",
                                field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.namespace"),
                            )
                        ]
                    )
                ),
            ]
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=namespace,
                labels=own,
                # A Prometheus that cannot start fails the update soon after its Deployment says so,
                # naming it, rather than after the provider's default 10 minutes.
                annotations={"azora.io/policy-exempt": EXEMPTIONS, "pulumi.com/timeoutSeconds": str(DEADLINE + 10)},
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                progress_deadline_seconds=DEADLINE,
                revision_history_limit=3,
                # One writer of the TSDB at a time: the old pod stops before the new one starts.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels.selector(NAME)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=pod_labels,
                        # A config change rolls the pod (Prometheus reads its file at start).
                        annotations={"azora.io/config-digest": config.data.apply(_digest)},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        automount_service_account_token=False,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=RUN_AS,
                            run_as_group=RUN_AS,
                            fs_group=RUN_AS,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=f"{NAME}-config")
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=DATA_SIZE_LIMIT)
                            ),
                            k8s.core.v1.VolumeArgs(name="token", projected=token),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, binding]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=labels.selector(NAME),
                ports=[k8s.core.v1.ServicePortArgs(name="web", port=PORT, target_port="web", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        self.url = pulumi.Output.from_input(f"http://{NAME}.{namespace}.svc.cluster.local:{PORT}")
        self.register_outputs({"url": self.url})


def _digest(data: Mapping[str, str] | None) -> str:
    text = yaml.safe_dump(dict(data or {}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
