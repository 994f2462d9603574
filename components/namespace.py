"""Namespace: the namespace, its Pod Security labels, quota, limit range and network policies."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components import labels, network


class QuotaArgs(TypedDict):
    """Hard caps of the namespace's ResourceQuota (Kubernetes quantities)."""

    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: int


class NamespaceArgs(TypedDict):
    name: str
    """The namespace name (a DNS-1123 label)."""
    part_of: NotRequired[str]
    """`app.kubernetes.io/name` of the namespace; default `azora`."""
    pod_security: NotRequired[Literal["restricted", "baseline", "privileged"]]
    """Pod Security Admission level, enforced, audited and warned; default restricted."""
    quota: NotRequired[QuotaArgs]
    """ResourceQuota hard caps; no quota when absent."""
    default_request: NotRequired[dict[str, str]]
    """LimitRange defaultRequest for containers that set none."""
    default_limit: NotRequired[dict[str, str]]
    """LimitRange default limits for containers that set none."""
    network_policies: NotRequired[dict[str, network.Spec]]
    """Allow policies by name, on top of default deny and DNS egress."""


class Namespace(pulumi.ComponentResource):
    """A namespace that starts closed: restricted pods, capped resources, default-deny traffic."""

    namespace_name: pulumi.Output[str]

    def __init__(self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azora:namespace:Namespace", name, None, opts)
        ns_name = args["name"]
        level = args.get("pod_security", "restricted")
        child = pulumi.ResourceOptions(parent=self)

        metadata_labels = {
            **labels.standard(args.get("part_of", labels.PART_OF), component="namespace"),
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": level,
            "pod-security.kubernetes.io/warn": level,
        }
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns_name, labels=metadata_labels),
            opts=child,
        )
        # Everything else lives in the namespace, so it waits for it.
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name,
                namespace=ns_name,
                labels=labels.standard(args.get("part_of", labels.PART_OF), component="namespace"),
            )

        quota = args.get("quota")
        if quota is not None:
            k8s.core.v1.ResourceQuota(
                f"{name}-quota",
                metadata=meta("compute"),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(
                    hard={
                        "requests.cpu": quota["requests_cpu"],
                        "requests.memory": quota["requests_memory"],
                        "limits.cpu": quota["limits_cpu"],
                        "limits.memory": quota["limits_memory"],
                        "pods": str(quota["pods"]),
                    }
                ),
                opts=inside,
            )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("container-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request=args.get("default_request", {"cpu": "100m", "memory": "128Mi"}),
                        default=args.get("default_limit", {"cpu": "500m", "memory": "512Mi"}),
                    )
                ]
            ),
            opts=inside,
        )

        policies = {"default-deny": network.default_deny(), "allow-dns": network.dns_egress()}
        policies.update(args.get("network_policies", {}))
        for policy_name, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}",
                metadata=meta(policy_name),
                spec=spec,
                opts=inside,
            )

        self.namespace_name = namespace.metadata.name
        self.register_outputs({"namespace_name": self.namespace_name})
