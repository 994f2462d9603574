"""A small client for the embedded cluster's API server (bearer token, our CA): readiness,
the simulated node, and the reads the live tests and benchmarks make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from azora.cluster.layout import NODE_IP, NODE_NAME, ClusterError


@dataclass
class Api:
    server: str
    token: str
    ca_file: str
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        # Per request: REQUESTS_CA_BUNDLE in the environment would override Session.verify.
        kwargs.setdefault("verify", self.ca_file)
        try:
            return self.session.request(method, f"{self.server}{path}", **kwargs)
        except requests.RequestException as exc:
            raise ClusterError(f"{method} {self.server}{path}: {exc}") from None

    def get(self, path: str, **kwargs: Any) -> dict[str, Any] | None:
        """The object at `path`, or None when it does not exist."""
        response = self.request("GET", path, **kwargs)
        if response.status_code == 404:
            return None
        self._check(response, "GET", path)
        return response.json()

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", path, json=body)
        self._check(response, "POST", path)
        return response.json()

    def patch(self, path: str, body: dict[str, Any], kind: str = "application/merge-patch+json") -> dict[str, Any]:
        response = self.request("PATCH", path, json=body, headers={"Content-Type": kind})
        self._check(response, "PATCH", path)
        return response.json()

    @staticmethod
    def _check(response: requests.Response, method: str, path: str) -> None:
        if not response.ok:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ClusterError(f"{method} {path}: HTTP {response.status_code}: {message[:500]}")


def node_manifest() -> dict[str, Any]:
    """The simulated node kwok manages (it fills in capacity, conditions and the lease)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]},
    }


def ensure_node(api: Api) -> None:
    if api.get(f"/api/v1/nodes/{NODE_NAME}") is None:
        api.create("/api/v1/nodes", node_manifest())


def node_ready(api: Api) -> bool:
    node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    if node is None:
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def default_service_account(api: Api, namespace: str = "default") -> bool:
    return api.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default") is not None


COREDNS_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "system:coredns"},
    "rules": [
        {"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ],
}
COREDNS_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "system:coredns"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:coredns"}],
}


def ensure_coredns_role(api: Api) -> None:
    """What CoreDNS's kubernetes plugin reads, and nothing more (it runs as `system:coredns`)."""
    base = "/apis/rbac.authorization.k8s.io/v1"
    if api.get(f"{base}/clusterroles/system:coredns") is None:
        api.create(f"{base}/clusterroles", COREDNS_ROLE)
    if api.get(f"{base}/clusterrolebindings/system:coredns") is None:
        api.create(f"{base}/clusterrolebindings", COREDNS_BINDING)
