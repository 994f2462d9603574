"""Where an embedded cluster lives and which ports it uses.

Everything sits in one gitignored directory (default `<project>/.azora/cluster`, or
`AZORA_CLUSTER_DIR`): `cluster.json` (ports and the node kind, fixed at the first `up` so the
kubeconfig stays valid across restarts), `pki/`, `etcd/` (data), `logs/`, `run/` (pid records)
and `kubeconfig`. A real node adds `node/`: containerd's root and state, kubelet's root, the
CNI configuration and address store, CoreDNS's Corefile, and `host.json` (what `up` changed on
the host, so `down` can undo exactly that).

The node's network stays on this machine: pods get addresses from POD_SUBNET on the bridge
BRIDGE, which also carries NODE_IP (where kubelet, cluster DNS and the API server's forwarder
listen) and the route for SERVICE_CIDR; the rest of POD_CIDR is a blackhole route.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from azora.engine import EngineError

PORT_NAMES = (
    "etcd_client",
    "etcd_peer",
    "apiserver",
    "controller_manager",
    "scheduler",
    "kwok",
    "kubelet",
    "kubelet_healthz",
    "kube_proxy_healthz",
    "kube_proxy_metrics",
    "dns_health",
    "dns_ready",
    "ingress",
)
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
POD_SUBNET = "10.244.0.0/24"  # the one node's share of POD_CIDR
POD_GATEWAY = "10.244.0.1"
NODE_NAME = "azora-node-0"
NODE_IP = "10.240.0.1"  # outside POD_CIDR
CLUSTER_DNS = NODE_IP  # CoreDNS listens on the node's address, port 53
CLUSTER_DOMAIN = "cluster.local"
BRIDGE = "azora0"
# The node kinds: a real node runs containers (containerd, kubelet, kube-proxy, CoreDNS); a
# simulated one (kwok) runs nothing but scales to thousands of pods.
REAL, SIMULATED = "real", "simulated"
NODE_KINDS = (REAL, SIMULATED)


class ClusterError(EngineError):
    """A cluster operation that cannot proceed, phrased for the user (never a traceback)."""


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel says are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_in_use(port: int, address: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((address, port)) == 0


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    kubelet: int  # on NODE_IP: the API server reaches kubelet there (logs, exec)
    kubelet_healthz: int
    kube_proxy_healthz: int
    kube_proxy_metrics: int
    dns_health: int
    dns_ready: int
    ingress: int  # the local ingress controller: the stack's Ingress hosts on 127.0.0.1


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def record(self, component: str) -> Path:
        return self.run / f"{component}.json"

    @property
    def node(self) -> Path:
        return self.root / "node"

    @property
    def host_changes(self) -> Path:
        return self.node / "host.json"

    def exists(self) -> bool:
        return self.settings_file.exists()

    def _settings(self) -> dict:
        try:
            data = json.loads(self.settings_file.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("ports"), dict):
                raise ValueError("no ports")
            return data
        except (OSError, ValueError) as exc:
            raise ClusterError(
                f"{self.settings_file} is unreadable ({exc}); remove the cluster with `azora cluster down --purge`"
            ) from None

    def load_ports(self) -> Ports:
        """The saved ports. A cluster made by an older azora lacks the node's ports: they are
        picked now and saved, so its kubeconfig stays valid."""
        data = self._settings()
        missing = [name for name in PORT_NAMES if name not in data["ports"]]
        if missing:
            data["ports"].update(zip(missing, free_ports(len(missing)), strict=True))
            self.settings_file.write_text(json.dumps(data, indent=2) + "\n")
        try:
            return Ports(**{name: int(data["ports"][name]) for name in PORT_NAMES})
        except (ValueError, TypeError) as exc:
            raise ClusterError(
                f"{self.settings_file} is unreadable ({exc}); remove the cluster with `azora cluster down --purge`"
            ) from None

    def node_kind(self) -> str:
        """`real` or `simulated`, fixed when the cluster was made (older clusters: simulated)."""
        kind = self._settings().get("node", SIMULATED)
        if kind not in NODE_KINDS:
            raise ClusterError(f"{self.settings_file}: node is {kind!r}; expected one of {', '.join(NODE_KINDS)}")
        return str(kind)

    def create(self, node: str = REAL) -> Ports:
        """Pick the ports and the node kind once and save them; later `up`s reuse them."""
        for path in (self.root, self.pki, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True)
        ports = Ports(*free_ports(len(PORT_NAMES)))
        self.settings_file.write_text(json.dumps({"node": node, "ports": asdict(ports)}, indent=2) + "\n")
        return ports
