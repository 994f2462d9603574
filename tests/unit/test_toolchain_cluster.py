"""azora.toolchain's cluster group without network or builds: the control plane, the real
node, pause, CoreDNS and Prometheus pieces, how each is built and fingerprinted."""

from __future__ import annotations

import re

import pytest

from azora import toolchain as tc
from azora.toolchain.catalog import COREDNS_PLUGINS, PAUSE_VERSION


@pytest.fixture
def pins() -> tc.Pins:
    return tc.Pins.load()


def _cluster(pins: tc.Pins) -> dict[str, tc.Piece]:
    return {p.name: p for p in tc.pieces_for(pins, ["cluster"])}


def test_cluster_group_builds_a_control_plane_a_node_and_dns(pins: tc.Pins) -> None:
    pieces = tc.pieces_for(pins, ["cluster"])
    names = ["etcd", "kube-control-plane", "kwok", "kube-node", "pause", "coredns", "prometheus"]
    assert [p.name for p in pieces] == names
    assert {p.group for p in pieces} == {"cluster"}
    assert {p.name: p.outputs for p in pieces} == {
        "etcd": ("etcd",),
        "kube-control-plane": ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
        "kwok": ("kwok",),
        "kube-node": ("kubelet", "kube-proxy"),
        "pause": ("pause",),
        "coredns": ("coredns",),
        "prometheus": ("prometheus",),
    }
    # No plugins: everything goes on PATH.
    assert all(p.plugin is None for p in pieces)


def test_prometheus_is_built_with_only_kubernetes_discovery(pins: tc.Pins) -> None:
    piece = _cluster(pins)["prometheus"]
    assert (piece.module, piece.version, piece.version_label) == (
        "github.com/prometheus/prometheus",
        "v0.316.0",
        "3.16.0",
    )
    [binary] = piece.binaries
    assert binary.package == "github.com/prometheus/prometheus/cmd/prometheus"
    assert binary.tags == ("remove_all_sd", "enable_kubernetes_sd")
    assert "github.com/prometheus/common/version.Version=3.16.0" in binary.xflags
    assert tc.catalog.prometheus_version("v0.309.12") == "3.9.12"


def test_pieces_without_build_tags_keep_their_fingerprints(pins: tc.Pins) -> None:
    """Adding `tags` to GoBinary must not rebuild every piece: an empty one is left out."""
    import dataclasses
    import hashlib
    import json

    from azora.toolchain.stamps import BUILD_RECIPE, fingerprint

    coredns = _cluster(pins)["coredns"]
    described = dataclasses.asdict(coredns)
    for binary in described["binaries"]:
        del binary["tags"]
    digest = hashlib.sha256(BUILD_RECIPE.encode())
    digest.update(json.dumps(described, sort_keys=True).encode())
    source = tc.TOOLCHAIN_SRC / "coredns"
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    assert fingerprint(coredns) == digest.hexdigest()
    assert fingerprint(_cluster(pins)["prometheus"]) != fingerprint(
        dataclasses.replace(
            _cluster(pins)["prometheus"],
            binaries=(dataclasses.replace(_cluster(pins)["prometheus"].binaries[0], tags=()),),
        )
    )


def test_kube_node_is_built_like_the_control_plane(pins: tc.Pins) -> None:
    pieces = _cluster(pins)
    node, control_plane = pieces["kube-node"], pieces["kube-control-plane"]
    assert (node.module, node.version, node.siblings) == ("k8s.io/kubernetes", "v1.34.1", (("k8s.io/*", "v0.34.1"),))
    assert (node.module, node.version, node.siblings) == (
        control_plane.module,
        control_plane.version,
        control_plane.siblings,
    )
    assert node.version_label == "1.34.1"
    assert [b.package for b in node.binaries] == ["k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kube-proxy"]
    flags = {
        "k8s.io/component-base/version.gitVersion=v1.34.1",
        "k8s.io/component-base/version.gitMajor=1",
        "k8s.io/component-base/version.gitMinor=34",
        "k8s.io/component-base/version.gitTreeState=clean",
    }
    for binary in (*node.binaries, *control_plane.binaries):
        assert set(binary.xflags) == flags
    # Its hashes are committed; the wrapper needs the kubernetes module itself.
    assert "k8s.io/kubernetes v1.34.1 h1:" in tc.sums_file(node).read_text()


def test_pause_is_azoras_own_static_stdlib_program(pins: tc.Pins) -> None:
    pause = _cluster(pins)["pause"]
    assert (pause.local, pause.module, pause.version_label) == ("pause", None, PAUSE_VERSION)
    assert pause.binaries == (tc.GoBinary(".", "pause", (f"main.version={PAUSE_VERSION}",)),)
    source = tc.TOOLCHAIN_SRC / "pause"
    assert "require" not in (source / "go.mod").read_text()
    assert not (source / "go.sum").exists()
    main = (source / "main.go").read_text()
    assert 'var version = "dev"' in main
    imports = re.search(r"import \(\n(.*?)\n\)", main, re.S)
    assert imports is not None
    assert sorted(line.strip().strip('"') for line in imports.group(1).splitlines()) == [
        "fmt",
        "os",
        "os/signal",
        "syscall",
    ]
    assert "SIGCHLD" in main and "Wait4" in main and "WNOHANG" in main
    # cgo-free: every piece is compiled with CGO_ENABLED=0.
    assert tc.go_env({})["CGO_ENABLED"] == "0"


def test_coredns_is_a_local_module_at_the_pinned_version(pins: tc.Pins) -> None:
    coredns = _cluster(pins)["coredns"]
    assert (coredns.local, coredns.module, coredns.version_label) == ("coredns", None, "1.13.1")
    assert coredns.binaries == (tc.GoBinary(".", "coredns"),)
    source = tc.TOOLCHAIN_SRC / "coredns"
    assert f"\nrequire github.com/coredns/coredns {pins.cluster_coredns}\n" in (source / "go.mod").read_text()
    gosum = (source / "go.sum").read_text()
    assert f"github.com/coredns/coredns {pins.cluster_coredns} h1:" in gosum
    # Its Kubernetes client is the control plane's version.
    staging = f"v0.{tc.parse_version(pins.cluster_kubernetes)[1]}.{tc.parse_version(pins.cluster_kubernetes)[2]}"
    assert staging == "v0.34.1"
    for module in ("k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go"):
        assert f"\n\t{module} {staging} // indirect\n" in (source / "go.mod").read_text()


def test_coredns_compiles_in_and_enables_only_the_cluster_plugins() -> None:
    assert COREDNS_PLUGINS == ("bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes")
    main = (tc.TOOLCHAIN_SRC / "coredns" / "main.go").read_text()
    plugins = re.findall(r'_ "github.com/coredns/coredns/plugin/([a-z0-9_]+)"', main)
    assert sorted(plugins) == sorted(COREDNS_PLUGINS)
    directives = re.search(r"var directives = \[\]string\{(.*?)\}", main, re.S)
    assert directives is not None
    assert tuple(re.findall(r'"([a-z0-9_]+)"', directives.group(1))) == COREDNS_PLUGINS
    assert "dnsserver.Directives = directives" in main and "coremain.Run()" in main
