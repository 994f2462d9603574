"""In-cluster URLs made reachable from the host of the embedded real node.

A stack's outputs name its services by their cluster DNS names
(`http://payment-active.azora-local.svc.cluster.local:8083/health`), which the host's resolver
does not know. On the embedded cluster with a real node the host reaches every Service's
ClusterIP (kube-proxy's rules, azora.cluster.network's route), so `host_url` swaps the name
for the address the API server gives, the way the cluster's DNS would answer a pod.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

from azora.cluster.api import Api
from azora.cluster.layout import CLUSTER_DOMAIN, ClusterError


def service_of(hostname: str) -> tuple[str, str] | None:
    """(namespace, name) of a Service DNS name `<name>.<namespace>.svc[.cluster.local]`."""
    labels = hostname.rstrip(".").split(".")
    if len(labels) == 3 and labels[2] == "svc" or labels[2:] == ["svc", *CLUSTER_DOMAIN.split(".")]:
        return labels[1], labels[0]
    return None


def host_url(url: str, api: Api) -> str:
    parts = urlsplit(url)
    found = service_of(parts.hostname or "")
    if found is None:
        return url
    namespace, name = found
    service = api.get(f"/api/v1/namespaces/{namespace}/services/{name}")
    address = ((service or {}).get("spec") or {}).get("clusterIP")
    if not address or address == "None":
        raise ClusterError(f"{url}: the cluster has no Service {namespace}/{name} with a ClusterIP")
    netloc = address + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def host_targets(targets: list, api: Api) -> list:
    """smoke Targets with their URLs reachable from this host (see host_url)."""
    return [replace(target, url=host_url(target.url, api)) for target in targets]
