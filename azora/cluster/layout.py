"""Where an embedded cluster lives and which ports it uses.

Everything sits in one gitignored directory (default `<project>/.azora/cluster`, or
`AZORA_CLUSTER_DIR`): `cluster.json` (ports and settings, fixed at the first `up` so the
kubeconfig stays valid across restarts), `pki/`, `etcd/` (data), `logs/`, `run/` (pid records)
and `kubeconfig`.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from azora.engine import EngineError

PORT_NAMES = ("etcd_client", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_NAME = "azora-node-0"
NODE_IP = "10.240.0.1"  # outside POD_CIDR


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


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


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

    def exists(self) -> bool:
        return self.settings_file.exists()

    def load_ports(self) -> Ports:
        try:
            data = json.loads(self.settings_file.read_text())
            return Ports(**{name: int(data["ports"][name]) for name in PORT_NAMES})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ClusterError(
                f"{self.settings_file} is unreadable ({exc}); remove the cluster with `azora cluster down --purge`"
            ) from None

    def create(self) -> Ports:
        """Pick the ports once and save them; later `up`s reuse them."""
        for path in (self.root, self.pki, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True)
        ports = Ports(*free_ports(len(PORT_NAMES)))
        self.settings_file.write_text(json.dumps({"ports": asdict(ports)}, indent=2) + "\n")
        return ports
