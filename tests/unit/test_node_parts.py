"""The real node's parts that need no cluster: the files its processes read, the kinds of node
and their components, the host-URL rewrite, the load generator's summary, and the sampled
post-promotion check against a real local server."""

from __future__ import annotations

import json
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from azora.cluster import network
from azora.cluster.components import COMPONENTS, Context, apiserver_argv, components_for, forwarder_argv
from azora.cluster.layout import NODE_IP, PORT_NAMES, REAL, SIMULATED, ClusterError, Layout
from azora.cluster.node import NodePaths, cni_config, containerd_config, corefile, kube_proxy_argv, kubelet_config
from azora.cluster.pki import Pki
from azora.cluster.services import service_of
from azora.images import PAUSE_IMAGE
from azora.smoke import Target, application_url, sample_application
from azora.traffic import Sample, summarize


def test_a_new_cluster_has_a_real_node_and_every_port(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ports = layout.create()
    assert layout.node_kind() == REAL
    values = [getattr(ports, name) for name in PORT_NAMES]
    assert len(set(values)) == len(PORT_NAMES)
    assert Layout(tmp_path / "sim").create(SIMULATED) and Layout(tmp_path / "sim").node_kind() == SIMULATED


def test_an_older_cluster_gets_the_node_ports_and_stays_simulated(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    old = {name: 20000 + i for i, name in enumerate(PORT_NAMES[:6])}
    layout.settings_file.write_text(json.dumps({"ports": old}))
    ports = layout.load_ports()
    assert ports.apiserver == old["apiserver"]  # the kubeconfig stays valid
    saved = json.loads(layout.settings_file.read_text())["ports"]
    assert set(saved) == set(PORT_NAMES) and saved["ingress"] == ports.ingress
    assert layout.load_ports() == ports  # picked once
    assert layout.node_kind() == SIMULATED


def test_a_bad_node_kind_is_named(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.create()
    data = json.loads(layout.settings_file.read_text())
    layout.settings_file.write_text(json.dumps({**data, "node": "virtual"}))
    with pytest.raises(ClusterError, match="node is 'virtual'; expected one of real, simulated"):
        layout.node_kind()


def test_each_node_kind_runs_its_own_components() -> None:
    real = [c.name for c in components_for(REAL)]
    simulated = [c.name for c in components_for(SIMULATED)]
    control = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert simulated == [*control, "kwok"]
    assert real == [*control, "containerd", "kubelet", "kube-proxy", "coredns", "apiserver-forwarder", "ingress"]


def _context(tmp_path: Path, kind: str) -> Context:
    layout = Layout(tmp_path / kind)
    return Context(layout, layout.create(kind), Pki(layout), Path("/toolchain/bin"))


def test_the_real_nodes_api_server_is_the_kubernetes_services_endpoint_on_the_node_address(tmp_path: Path) -> None:
    ctx = _context(tmp_path, REAL)
    argv = apiserver_argv(ctx)
    assert "--bind-address=127.0.0.1" in argv  # the API server itself stays on loopback
    assert f"--advertise-address={NODE_IP}" in argv
    assert "--endpoint-reconciler-type=lease" in argv
    assert len([a for a in argv if a.startswith(("--advertise-address=", "--endpoint-reconciler-type="))]) == 2
    # The simulated node runs no pods: loopback, no endpoints, as before.
    simulated = apiserver_argv(_context(tmp_path, SIMULATED))
    assert "--advertise-address=127.0.0.1" in simulated and "--endpoint-reconciler-type=none" in simulated


def test_the_forwarder_listens_on_the_node_address_only_and_relays_to_the_api_server(tmp_path: Path) -> None:
    ctx = _context(tmp_path, REAL)
    port = ctx.ports.apiserver
    argv = forwarder_argv(ctx)
    assert Path(argv[0]).name == "socat"
    listen, relay = argv[-2:]
    assert listen.split(",")[0] == f"TCP4-LISTEN:{port}"
    assert f"bind={NODE_IP}" in listen.split(",") and "fork" in listen.split(",")
    assert relay == f"TCP4:127.0.0.1:{port}"  # bytes only: TLS stays between the pod and the API server
    (forwarder,) = [c for c in COMPONENTS if c.name == "apiserver-forwarder"]
    assert forwarder.kinds == (REAL,) and forwarder.system
    assert forwarder.listens_on(ctx) == f"{NODE_IP}:{port}"
    # Started after containerd, whose start makes the bridge with NODE_IP.
    order = [c.name for c in components_for(REAL)]
    assert order.index("apiserver-forwarder") > order.index("containerd")


def test_containerd_keeps_everything_under_the_cluster_and_uses_our_pause_image(tmp_path: Path) -> None:
    paths = NodePaths(Layout(tmp_path))
    config = tomllib.loads(containerd_config(paths))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["root"].startswith(str(tmp_path)) and config["state"].startswith(str(tmp_path))
    assert config["grpc"]["address"] == str(paths.containerd_socket)
    assert cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["restrict_oom_score_adj"] is True  # the VM lacks CAP_SYS_RESOURCE
    assert cri["netns_mounts_under_state_dir"] is True  # `down` finds every namespace
    options = cri["containerd"]["runtimes"]["runc"]["options"]
    assert options == {"SystemdCgroup": False, "Root": str(paths.runc_root)}
    assert cri["cni"]["conf_dir"] == str(paths.cni_conf_dir)
    assert "io.containerd.internal.v1.opt" in config["disabled_plugins"]  # no /opt/containerd


def test_pods_get_the_node_subnet_and_no_masquerade(tmp_path: Path) -> None:
    paths = NodePaths(Layout(tmp_path))
    bridge = json.loads(cni_config(paths))["plugins"][0]
    assert bridge["bridge"] == "azora0" and bridge["ipMasq"] is False and bridge["isGateway"] is True
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24", "gateway": "10.244.0.1"}]]
    assert bridge["ipam"]["dataDir"] == str(paths.cni_data_dir)


def test_kubelet_runs_on_this_machine_kind_and_keeps_the_images(tmp_path: Path) -> None:
    paths = NodePaths(Layout(tmp_path))
    config = yaml.safe_load(kubelet_config(paths, 10250, 10248, tmp_path / "ca.crt"))
    assert (config["cgroupDriver"], config["failCgroupV1"], config["failSwapOn"]) == ("cgroupfs", False, False)
    assert config["address"] == "10.240.0.1" and config["healthzBindAddress"] == "127.0.0.1"
    assert config["containerRuntimeEndpoint"] == f"unix://{paths.containerd_socket}"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authentication"]["x509"]["clientCAFile"] == str(tmp_path / "ca.crt")
    assert config["clusterDNS"] == ["10.240.0.1"]
    assert config["imageGCHighThresholdPercent"] == 100  # imported images cannot be pulled again
    assert config["podLogsDir"].startswith(str(tmp_path))


def test_kube_proxy_leaves_the_host_conntrack_settings_alone() -> None:
    argv = kube_proxy_argv(Path("/bin/kube-proxy"), Path("/k"), 1, 2)
    assert "--conntrack-max-per-core=0" in argv
    assert "--conntrack-tcp-timeout-established=0" in argv
    assert "--nodeport-addresses=10.240.0.1/32" in argv  # no route_localnet


def test_cluster_dns_answers_on_the_node_address_only() -> None:
    text = corefile(Path("/k/coredns.kubeconfig"), 1001, 1002)
    assert text.count("bind 10.240.0.1") == 2
    assert "kubeconfig /k/coredns.kubeconfig" in text
    assert "forward" not in text  # nothing a pod resolves leads off the machine


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("payment.azora-local.svc.cluster.local", ("azora-local", "payment")),
        ("payment.azora-local.svc", ("azora-local", "payment")),
        ("payment", None),
        ("azora.localtest.me", None),
        ("payment.azora-local.svc.example.com", None),
    ],
)
def test_service_dns_names(host: str, expected: tuple[str, str] | None) -> None:
    assert service_of(host) == expected


def test_the_host_record_is_refused_to_a_second_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "node.json"
    monkeypatch.setattr(network, "HOST_RECORD", record)
    record.write_text(json.dumps({"owner": "/elsewhere/cluster"}))
    with pytest.raises(ClusterError, match="azora cluster down --dir /elsewhere/cluster"):
        network.claim(tmp_path / "cluster")
    assert network.teardown(tmp_path / "cluster", lambda _: None) is False  # never someone else's
    assert json.loads(record.read_text()) == {"owner": "/elsewhere/cluster"}


def test_chain_removal_deletes_jumps_whose_rule_has_a_quoted_comment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What kube-proxy leaves when its own --cleanup could not run: jumps from the built-in
    chains, with comments that have spaces. Each jump is deleted by its exact rule, then the chain."""
    listing = "\n".join(
        [
            "-P INPUT ACCEPT",
            "-N KUBE-FORWARD",
            "-N KEEP-ME",
            '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
            '-A FORWARD -m comment --comment "someone else" -j KEEP-ME',
            "-A KUBE-FORWARD -j ACCEPT",
        ]
    )
    calls: list[list[str]] = []

    def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, listing if argv[-1] == "-S" else "", "")

    monkeypatch.setattr(network, "_run", run)
    assert network._remove_chains("iptables", "filter", [], lambda _: None) == ["KUBE-FORWARD"]
    changes = [call[4:] for call in calls if call[-1] != "-S"]
    assert changes == [
        ["-D", "FORWARD", "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"],
        ["-F", "KUBE-FORWARD"],
        ["-X", "KUBE-FORWARD"],
    ]


def _sample(at: float, version: str | None, status: int | None = 200) -> Sample:
    return Sample(at, status, None if status else "ConnectionRefusedError: refused", 0.01, version, None)


def test_the_load_summary_counts_failures_and_version_changes() -> None:
    samples = [_sample(0, "1"), _sample(1, "1"), _sample(2, None, None), _sample(3, "2"), _sample(4, "2", 500)]
    summary = summarize(samples)
    assert summary.requests == 5 and summary.failed == 2
    assert summary.versions == ["1", "2"]
    assert summary.first_failure == "ConnectionRefusedError: refused"
    assert summary.rate == pytest.approx(1.0)
    flapping = summarize([_sample(0, "1"), _sample(1, "2"), _sample(2, "1")])
    assert flapping.versions == ["1", "2", "1"]


@pytest.fixture
def app() -> Iterator[tuple[str, list[str]]]:
    """A real server whose every tenth application request fails, like errors-10pct."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            status = 500 if len(seen) % 10 == 0 else 200
            self.send_response(status)
            self.send_header("X-Azora-Version", "2.1.0")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health?x=1", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_post_promotion_sample_sees_what_a_health_check_does_not(app: tuple[str, list[str]]) -> None:
    health_url, seen = app
    assert application_url(health_url).endswith("/") and "health" not in application_url(health_url)
    failure = sample_application(Target("payment", health_url), count=20)
    assert seen == ["/"] * 20
    assert failure is not None
    assert failure.startswith("payment: 2 of 20 application requests to http://127.0.0.1:")
    assert failure.endswith("failed (HTTP 500)")
    assert sample_application(Target("payment", health_url), count=9) is None  # requests 21 to 29 pass
