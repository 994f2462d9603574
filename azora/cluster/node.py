"""The real node's processes: containerd, kubelet, kube-proxy and CoreDNS, with the files
they read (written under `<cluster>/node/` at each start, so a changed azora takes effect on
the next `up`). The API server's forwarder for pods (socat on NODE_IP) is in
azora.cluster.components.

Choices, each for this machine kind (a root VM with cgroups v1 and no systemd):
- containerd (Debian's) keeps its root, state, socket and runc root under the cluster
  directory; network namespaces are mounted under its state directory, so `down` finds every
  one it made. `restrict_oom_score_adj`: the VM lacks CAP_SYS_RESOURCE and every sandbox fails
  without it. Images come only from local imports (azora.images); the sandbox image is ours.
- kubelet: cgroupfs driver under its own cgroup root `/azora`, v1 allowed, swap allowed, its
  own root and pod-log directories; image GC and eviction off (a development node must not
  delete the imported images or evict pods when the disk is fuller than a server's would be).
- kube-proxy in iptables mode, leaving the host's conntrack sysctls alone; NodePorts only on
  the node's own address.
- CoreDNS as a host process on NODE_IP:53, answering for cluster.local from the API server and
  refusing everything else: nothing a pod resolves leads off the machine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
from pathlib import Path

import yaml

from azora.cluster.layout import (
    BRIDGE,
    CLUSTER_DNS,
    CLUSTER_DOMAIN,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    POD_GATEWAY,
    POD_SUBNET,
    Layout,
)
from azora.images import PAUSE_IMAGE

CNI_BIN_DIR = Path("/usr/lib/cni")
CGROUP_ROOT = "/azora"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NodePaths:
    """Where the node's pieces keep their files."""

    def __init__(self, layout: Layout):
        self.root = layout.node

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd-state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.root / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def cni_data_dir(self) -> Path:
        return self.root / "cni-ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def corefile(self) -> Path:
        return self.root / "Corefile"

    @property
    def task_dir(self) -> Path:
        """containerd's runtime v2 task bundles of the CRI namespace (one per container)."""
        return self.containerd_state / "io.containerd.runtime.v2.task" / "k8s.io"


def _write_if_changed(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def containerd_config(paths: NodePaths) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
root = "{paths.containerd_root}"
state = "{paths.containerd_state}"
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{paths.containerd_socket}"

[ttrpc]
  address = "{paths.containerd_socket}.ttrpc"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{paths.runc_root}"

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{paths.cni_conf_dir}"
  max_conf_num = 1
"""


def cni_config(paths: NodePaths) -> str:
    """One bridge network: pods on BRIDGE in POD_SUBNET, no masquerade (pods never reach
    past this machine: azora.cluster.network drops what they would forward elsewhere)."""
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "azora",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(paths.cni_data_dir),
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        },
        indent=2,
    )


def write_containerd_files(paths: NodePaths) -> Path:
    for directory in (paths.containerd_root, paths.containerd_state, paths.runc_root, paths.cni_data_dir):
        directory.mkdir(parents=True, exist_ok=True)
    _write_if_changed(paths.cni_conf_dir / "10-azora.conflist", cni_config(paths))
    return _write_if_changed(paths.containerd_config, containerd_config(paths))


def kubelet_config(paths: NodePaths, kubelet_port: int, healthz_port: int, ca_file: Path) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": CGROUP_ROOT,
        "failCgroupV1": False,
        "failSwapOn": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca_file)},
        },
        # Only the API server holds a certificate of the cluster's CA (azora.cluster.pki).
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(paths.resolv_conf),
        "podLogsDir": str(paths.pod_logs),
        "volumePluginDir": str(paths.kubelet_root / "volume-plugins"),
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "maxPods": 110,
        "localStorageCapacityIsolation": False,
        "logging": {"format": "text"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubelet_files(paths: NodePaths, kubelet_port: int, healthz_port: int, ca_file: Path) -> Path:
    for directory in (paths.kubelet_root, paths.pod_logs):
        directory.mkdir(parents=True, exist_ok=True)
    # Pods with dnsPolicy Default get this file: no upstream resolver (nothing leaves the machine).
    _write_if_changed(paths.resolv_conf, f"nameserver {CLUSTER_DNS}\n")
    return _write_if_changed(paths.kubelet_config, kubelet_config(paths, kubelet_port, healthz_port, ca_file))


def kubelet_argv(binary: Path, paths: NodePaths, kubeconfig: Path, config: Path) -> list[str]:
    return [
        str(binary),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={paths.kubelet_root}",
        f"--cert-dir={paths.kubelet_root / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--v=0",
    ]


def kube_proxy_argv(binary: Path, kubeconfig: Path, healthz_port: int, metrics_port: int) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={POD_CIDR}",
        f"--healthz-bind-address=127.0.0.1:{healthz_port}",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        f"--nodeport-addresses={NODE_IP}/32",
        # Leave the host's conntrack table size and timeouts as they are.
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
        "--v=0",
    ]


def corefile(kubeconfig: Path, health_port: int, ready_port: int) -> str:
    return f"""\
{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {CLUSTER_DNS}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
.:53 {{
    bind {CLUSTER_DNS}
    errors
}}
"""


def write_corefile(paths: NodePaths, kubeconfig: Path, health_port: int, ready_port: int) -> Path:
    return _write_if_changed(paths.corefile, corefile(kubeconfig, health_port, ready_port))


def socket_answers(path: Path) -> bool:
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def system_binary(name: str) -> Path | None:
    found = shutil.which(name, path=SYSTEM_PATH)
    return Path(found) if found else None
