"""The processes of an embedded cluster: command lines, start order and health checks.

Start order is the list order; each component must be healthy before the next starts. Every
control-plane listener binds 127.0.0.1 on the ports fixed in `cluster.json`. A component
belongs to the real node, the simulated one (kwok), or both (the control plane); the real
node's pieces and their files are in azora.cluster.node.

Pods reach the API server as in any cluster (in-cluster config: the `kubernetes` Service,
10.96.0.1:443, a ServiceAccount token and `kube-root-ca.crt`). On the real node the API
server advertises NODE_IP and reconciles the Service's endpoints to NODE_IP:<apiserver port>
(kube-proxy DNATs 10.96.0.1:443 there), and `apiserver-forwarder` (Debian's socat) listens on
exactly NODE_IP:<apiserver port>, on the bridge, and relays each TCP connection to the API
server on 127.0.0.1:<apiserver port>. TLS stays end to end: socat sees only bytes, the client
checks the API server's own certificate (which names NODE_IP, 10.96.0.1 and the `kubernetes`
Service's DNS names, see azora.cluster.pki). Why a relay and not a second bind address:
kube-apiserver binds one address, and binding it to 0.0.0.0 would expose it on every interface
of the machine; why socat: a small, well-kept Debian tool that does exactly this (one process
per connection, stopped with its process group), so there is no forwarding code of ours. The
simulated node has no pods that run, so its API server keeps 127.0.0.1 and no endpoints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from azora.cluster import node
from azora.cluster.layout import NODE_IP, POD_CIDR, REAL, SERVICE_CIDR, SIMULATED, Layout, Ports
from azora.cluster.pki import Pki

# kwok: simulated pods get addresses in POD_CIDR; a Stage gives every Ingress the address
# 127.0.0.1, which is what an ingress controller would report (the provider waits for it).
KWOK_STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ingress-load-balancer
spec:
  resourceRef:
    apiGroup: networking.k8s.io/v1
    kind: Ingress
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.loadBalancer.ingress'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      loadBalancer:
        ingress:
        - ip: 127.0.0.1
"""


@dataclass(frozen=True)
class Context:
    """What a component's command line and health check need."""

    layout: Layout
    ports: Ports
    pki: Pki
    bin_dir: Path

    @property
    def node(self) -> node.NodePaths:
        return node.NodePaths(self.layout)


Health = Callable[[Context], str | None]  # None when healthy, else what is wrong


def _get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=2, **kwargs)  # type: ignore[arg-type]


def _probe(url: str, expect: Callable[[requests.Response], bool], **kwargs: object) -> str | None:
    try:
        response = _get(url, **kwargs)
    except requests.RequestException as exc:
        return f"{url}: {type(exc).__name__}"
    if not expect(response):
        return f"{url}: HTTP {response.status_code} {response.text[:200].strip()}"
    return None


def etcd_health(ctx: Context) -> str | None:
    return _probe(
        f"http://127.0.0.1:{ctx.ports.etcd_client}/health",
        lambda r: r.ok and r.json().get("health") == "true",
    )


def _apiserver_ready(ctx: Context, address: str) -> str | None:
    """The API server's /readyz at `address`, its certificate checked against our CA for that
    address (so through the forwarder this is what a pod's client sees)."""
    token = ctx.pki.tokens()["admin"]
    return _probe(
        f"https://{address}:{ctx.ports.apiserver}/readyz",
        lambda r: r.ok,
        verify=str(ctx.pki.ca_cert),
        headers={"Authorization": f"Bearer {token}"},
    )


def apiserver_health(ctx: Context) -> str | None:
    return _apiserver_ready(ctx, "127.0.0.1")


def forwarder_health(ctx: Context) -> str | None:
    return _apiserver_ready(ctx, NODE_IP)


def _healthz(port_name: str) -> Health:
    """The controller-manager's and scheduler's /healthz, served with our serving certificate."""

    def check(ctx: Context) -> str | None:
        url = f"https://127.0.0.1:{getattr(ctx.ports, port_name)}/healthz"
        return _probe(url, lambda r: r.ok, verify=str(ctx.pki.ca_cert))

    return check


def kwok_health(ctx: Context) -> str | None:
    return _probe(f"http://127.0.0.1:{ctx.ports.kwok}/healthz", lambda r: r.ok)


def etcd_argv(ctx: Context) -> list[str]:
    client = f"http://127.0.0.1:{ctx.ports.etcd_client}"
    peer = f"http://127.0.0.1:{ctx.ports.etcd_peer}"
    return [
        str(ctx.bin_dir / "etcd"),
        "--name=azora",
        f"--data-dir={ctx.layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=azora={peer}",
        "--initial-cluster-state=new",
        # A disposable development store: skip fsync (a crash of the process loses nothing,
        # only a crash of the machine could) and keep the log small.
        "--unsafe-no-fsync=true",
        "--snapshot-count=5000",
        "--quota-backend-bytes=1073741824",
        "--log-level=warn",
    ]


def apiserver_endpoint_args(kind: str) -> list[str]:
    """Where the `kubernetes` Service leads. The real node: to NODE_IP, where the forwarder
    relays to the API server on 127.0.0.1, kept in its endpoints by the lease reconciler (the
    default of kube-apiserver). The simulated node runs no pods: no endpoints."""
    if kind == REAL:
        return [f"--advertise-address={NODE_IP}", "--endpoint-reconciler-type=lease"]
    return ["--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]


def apiserver_argv(ctx: Context) -> list[str]:
    pki = ctx.pki
    return [
        str(ctx.bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ctx.ports.etcd_client}",
        "--bind-address=127.0.0.1",
        *apiserver_endpoint_args(ctx.layout.node_kind()),
        f"--secure-port={ctx.ports.apiserver}",
        f"--cert-dir={ctx.layout.pki}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--token-auth-file={pki.token_file}",
        # The Node authorizer gives kubelet (system:node:<name>) what its own node needs.
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        # `kubectl logs` and `exec` reach kubelet on the node's address, with a client
        # certificate of the cluster's CA.
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={pki.kubelet_client_cert}",
        f"--kubelet-client-key={pki.kubelet_client_key}",
        "--anonymous-auth=false",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--v=0",
    ]


def _controller_argv(ctx: Context, name: str, port: int) -> list[str]:
    """What the controller-manager and the scheduler share: their own token's kubeconfig (also
    for delegated authn/authz of their /healthz), serving on 127.0.0.1 with our certificate,
    no leader election (one replica)."""
    kubeconfig = ctx.pki.kubeconfig_for(name)
    return [
        str(ctx.bin_dir / name),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={ctx.pki.serving_cert}",
        f"--tls-private-key-file={ctx.pki.serving_key}",
        "--leader-elect=false",
        "--v=0",
    ]


def controller_manager_argv(ctx: Context) -> list[str]:
    return [
        *_controller_argv(ctx, "kube-controller-manager", ctx.ports.controller_manager),
        f"--service-account-private-key-file={ctx.pki.sa_key}",
        f"--root-ca-file={ctx.pki.ca_cert}",
        f"--cluster-cidr={POD_CIDR}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allocate-node-cidrs=false",
    ]


def scheduler_argv(ctx: Context) -> list[str]:
    return _controller_argv(ctx, "kube-scheduler", ctx.ports.scheduler)


def kwok_config(ctx: Context) -> Path:
    path = ctx.layout.root / "kwok.yaml"
    if not path.exists() or path.read_text() != KWOK_STAGES:
        path.write_text(KWOK_STAGES)
    return path


def kwok_argv(ctx: Context) -> list[str]:
    return [
        str(ctx.bin_dir / "kwok"),
        f"--kubeconfig={ctx.pki.kubeconfig_for('kwok')}",
        f"--config={kwok_config(ctx)}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        f"--node-ip={NODE_IP}",
        f"--server-address=127.0.0.1:{ctx.ports.kwok}",
        "--node-lease-duration-seconds=40",
    ]


def _http_ok(port_name: str, path: str) -> Health:
    def check(ctx: Context) -> str | None:
        return _probe(f"http://127.0.0.1:{getattr(ctx.ports, port_name)}{path}", lambda r: r.ok)

    return check


def containerd_argv(ctx: Context) -> list[str]:
    config = node.write_containerd_files(ctx.node)
    return [str(node.system_binary("containerd") or "containerd"), f"--config={config}", "--log-level=warn"]


def containerd_health(ctx: Context) -> str | None:
    socket = ctx.node.containerd_socket
    return None if node.socket_answers(socket) else f"{socket} does not answer"


def kubelet_argv(ctx: Context) -> list[str]:
    config = node.write_kubelet_files(ctx.node, ctx.ports.kubelet, ctx.ports.kubelet_healthz, ctx.pki.ca_cert)
    return node.kubelet_argv(ctx.bin_dir / "kubelet", ctx.node, ctx.pki.kubeconfig_for("kubelet"), config)


def kube_proxy_argv(ctx: Context) -> list[str]:
    return node.kube_proxy_argv(
        ctx.bin_dir / "kube-proxy",
        ctx.pki.kubeconfig_for("kube-proxy"),
        ctx.ports.kube_proxy_healthz,
        ctx.ports.kube_proxy_metrics,
    )


def coredns_argv(ctx: Context) -> list[str]:
    corefile = node.write_corefile(
        ctx.node, ctx.pki.kubeconfig_for("coredns"), ctx.ports.dns_health, ctx.ports.dns_ready
    )
    return [str(ctx.bin_dir / "coredns"), "-conf", str(corefile)]


def forwarder_argv(ctx: Context) -> list[str]:
    """socat: accept on NODE_IP only (never 0.0.0.0), a child per connection, each relayed to
    the API server on 127.0.0.1; warnings and errors go to its log, not every connection."""
    port = ctx.ports.apiserver
    return [
        str(node.system_binary("socat") or "socat"),
        "-d",
        f"TCP4-LISTEN:{port},bind={NODE_IP},reuseaddr,fork,backlog=128",
        f"TCP4:127.0.0.1:{port}",
    ]


def ingress_argv(ctx: Context) -> list[str]:
    return [
        sys.executable,
        "-m",
        "azora.cluster.ingress",
        f"--kubeconfig={ctx.layout.kubeconfig}",
        f"--listen=127.0.0.1:{ctx.ports.ingress}",
    ]


@dataclass(frozen=True)
class Component:
    name: str
    binary: str
    argv: Callable[[Context], list[str]]
    health: Health
    port: str | None  # the Ports field it listens on (None: a unix socket)
    kinds: tuple[str, ...] = (REAL, SIMULATED)
    system: bool = False  # a Debian package's binary, not the toolchain's
    address: str = "127.0.0.1"  # where it listens on `port`

    def listens_on(self, ctx: Context) -> str:
        return (
            str(ctx.node.containerd_socket) if self.port is None else f"{self.address}:{getattr(ctx.ports, self.port)}"
        )

    def binary_path(self, ctx: Context) -> Path | None:
        if self.system:
            return node.system_binary(self.binary)
        path = ctx.bin_dir / self.binary
        return path if path.exists() else None


COMPONENTS = (
    Component("etcd", "etcd", etcd_argv, etcd_health, "etcd_client"),
    Component("kube-apiserver", "kube-apiserver", apiserver_argv, apiserver_health, "apiserver"),
    Component(
        "kube-controller-manager",
        "kube-controller-manager",
        controller_manager_argv,
        _healthz("controller_manager"),
        "controller_manager",
    ),
    Component("kube-scheduler", "kube-scheduler", scheduler_argv, _healthz("scheduler"), "scheduler"),
    Component("kwok", "kwok", kwok_argv, kwok_health, "kwok", kinds=(SIMULATED,)),
    Component("containerd", "containerd", containerd_argv, containerd_health, None, kinds=(REAL,), system=True),
    Component("kubelet", "kubelet", kubelet_argv, _http_ok("kubelet_healthz", "/healthz"), "kubelet_healthz", (REAL,)),
    # /healthz answers 200 only once kube-proxy has written the Service rules.
    Component(
        "kube-proxy",
        "kube-proxy",
        kube_proxy_argv,
        _http_ok("kube_proxy_healthz", "/healthz"),
        "kube_proxy_healthz",
        (REAL,),
    ),
    Component("coredns", "coredns", coredns_argv, _http_ok("dns_ready", "/ready"), "dns_ready", (REAL,)),
    # The API server for pods (the `kubernetes` Service's endpoint); the bridge has NODE_IP
    # since containerd's start (azora.cluster.lifecycle makes the host network before it).
    Component(
        "apiserver-forwarder",
        "socat",
        forwarder_argv,
        forwarder_health,
        "apiserver",
        (REAL,),
        system=True,
        address=NODE_IP,
    ),
    # Routes the stack's Ingress hosts on 127.0.0.1 and reports that address in their status.
    Component(
        "ingress",
        sys.executable,
        ingress_argv,
        _http_ok("ingress", "/.azora/ingress/healthz"),
        "ingress",
        (REAL,),
        system=True,
    ),
)


def components_for(kind: str) -> tuple[Component, ...]:
    return tuple(c for c in COMPONENTS if kind in c.kinds)
