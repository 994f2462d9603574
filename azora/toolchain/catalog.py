"""What can be built: the pieces of the toolchain, as data, in groups.

A ``Piece`` is one buildable part: the Go module and version it comes from (or a
local module under ``toolchain/``), the packages to compile with their link-time
version variables, generate steps, plain files to copy and the provider plugin it
registers. Pieces come in groups, built on request:

* ``"pulumi"`` (``PULUMI_GROUP``): the Pulumi CLI, the Python language host and exec
  shims, the kubernetes and random provider plugins, and the helm CLI at the version the
  kubernetes provider embeds; always installed.
* ``"cluster"`` (``CLUSTER_GROUP``): a local Kubernetes cluster: the control plane
  (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), a real node
  (kubelet, kube-proxy and ``pause``, the pod sandbox's first process), cluster DNS
  (a CoreDNS with only the plugins the cluster uses) and kwok (simulated nodes).

Every piece is compiled with ``CGO_ENABLED=0`` (``azora.toolchain.gobuild.go_env``),
so every binary is static; nothing here needs a C compiler.

How a piece is built is ``azora.toolchain.build``; this module only describes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from azora.toolchain.errors import ToolchainError
from azora.toolchain.pins import Pins, parse_version

PULUMI_GROUP = "pulumi"
CLUSTER_GROUP = "cluster"
#: A ``siblings`` value meaning "drop this replace": upstream points a module it
#: forbids at a non-existent directory (etcd's FORBIDDEN_DEPENDENCY).
DROP = "-"


@dataclass(frozen=True)
class GoBinary:
    """One ``go build`` output: the package to build and the file it becomes in bin."""

    package: str
    output: str
    #: ``-X importpath.name=value`` settings (version variables).
    xflags: tuple[str, ...] = ()
    #: Go build tags (``go build -tags``), e.g. to compile in only some plugins.
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generate:
    """A generator run before compiling: ``go build`` ``program`` (a file or package
    relative to the build module), run it in ``workdir`` with ``args`` and ``env``, then
    copy generated files (paths relative to the build module)."""

    program: str
    workdir: str = "."
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    copies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModuleFile:
    """A plain file shipped inside a Go module, copied into bin as an executable."""

    path: str
    output: str


@dataclass(frozen=True)
class Piece:
    """One buildable part of the toolchain, described as data.

    Exactly one source is used:

    * ``module``/``version``: an upstream module. azora generates a wrapper module that
      requires it and mirrors its ``replace`` directives (read from the module's own
      go.mod); replaces pointing into the same repository (``=> ../sdk``) become the
      published versions listed in ``siblings``. ``copy_dir`` copies a package
      directory of the module into the wrapper as ``./gen`` so ``go generate``-style
      steps can write next to it (module caches are read-only).
    * ``local``: a module of our own under ``toolchain/``.
    * ``files``: plain files copied out of ``module``/``version`` (no compiling).
    """

    name: str
    group: str
    summary: str
    version_label: str
    binaries: tuple[GoBinary, ...] = ()
    module: str | None = None
    version: str | None = None
    siblings: tuple[tuple[str, str], ...] = ()
    copy_dir: str | None = None
    local: str | None = None
    generate: tuple[Generate, ...] = ()
    files: tuple[ModuleFile, ...] = ()
    #: ``(kind, name, version, binary)`` to register with ``pulumi plugin install``.
    plugin: tuple[str, str, str, str] | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        """File names this piece puts into bin."""
        return tuple(b.output for b in self.binaries) + tuple(f.output for f in self.files)


def pulumi_pieces(pins: Pins) -> list[Piece]:
    """The Pulumi set: CLI, Python language host and shims, two provider plugins."""
    sdk_module = "github.com/pulumi/pulumi/sdk/v3"
    pkg_version = pins.pulumi_module_version
    k8s_version_var = f"{pins.kubernetes_module}/pkg/version.Version={pins.kubernetes}"
    return [
        Piece(
            name="pulumi",
            group=PULUMI_GROUP,
            summary="the pulumi CLI",
            version_label=pins.pulumi,
            module="github.com/pulumi/pulumi/pkg/v3",
            version=pkg_version,
            siblings=((sdk_module, pkg_version),),
            binaries=(
                GoBinary(
                    package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
                    output="pulumi",
                    xflags=(f"{sdk_module}/go/common/version.Version=v{pins.pulumi}",),
                ),
            ),
        ),
        Piece(
            name="python-shims",
            group=PULUMI_GROUP,
            summary="the Python SDK's exec shims",
            version_label=pins.pulumi,
            module=sdk_module,
            version=pkg_version,
            files=(
                ModuleFile("python/cmd/pulumi-language-python-exec", "pulumi-language-python-exec"),
                ModuleFile("python/dist/pulumi-resource-pulumi-python", "pulumi-resource-pulumi-python"),
            ),
        ),
        Piece(
            # The upstream host's module is not served by the reachable proxy, see
            # toolchain/python-langhost/main.go.
            name="language-python",
            group=PULUMI_GROUP,
            summary="the Python language host",
            version_label=pins.pulumi,
            local="python-langhost",
            binaries=(GoBinary(".", "pulumi-language-python", (f"main.version={pins.pulumi}",)),),
        ),
        Piece(
            name="kubernetes",
            group=PULUMI_GROUP,
            summary="the kubernetes provider plugin",
            version_label=pins.kubernetes,
            module=pins.kubernetes_module,
            version=pins.kubernetes_module_version,
            siblings=(("github.com/pulumi/pulumi-kubernetes/sdk/v4", pins.kubernetes_sdk_module_version),),
            # main.go embeds schema-embed.json, which `go generate` (generate.go)
            # derives from the committed schema.json, stamping the version in.
            copy_dir="cmd/pulumi-resource-kubernetes",
            generate=(Generate(program="./gen/generate.go", workdir="gen", env=(("VERSION", pins.kubernetes),)),),
            binaries=(GoBinary("./gen", "pulumi-resource-kubernetes", (k8s_version_var,)),),
            plugin=("resource", "kubernetes", pins.kubernetes, "pulumi-resource-kubernetes"),
        ),
        Piece(
            name="random",
            group=PULUMI_GROUP,
            summary="the random provider plugin",
            version_label=pins.random,
            local="random-provider",
            # The schema and bridge metadata are generated from the Terraform
            # provider by the bridge's tfgen, then compiled into the plugin.
            generate=(
                Generate(
                    program="./cmd/pulumi-tfgen-random",
                    args=("schema", "--out", "generated", "--skip-docs", "--skip-examples"),
                    copies=(
                        ("generated/schema.json", "cmd/pulumi-resource-random/schema.json"),
                        ("generated/bridge-metadata.json", "info/bridge-metadata.json"),
                    ),
                ),
            ),
            binaries=(
                GoBinary(
                    "./cmd/pulumi-resource-random",
                    "pulumi-resource-random",
                    (f"azora.local/toolchain/random-provider/version.Version={pins.random}",),
                ),
            ),
            plugin=("resource", "random", pins.random, "pulumi-resource-random"),
        ),
        Piece(
            # The Helm the kubernetes provider embeds (its go.mod requires this version), so
            # `helm template CHART | azora policy check -` renders a chart as `pulumi up` does.
            name="helm",
            group=PULUMI_GROUP,
            summary="the helm CLI (the provider's Helm)",
            version_label=pins.helm.lstrip("v"),
            module="helm.sh/helm/v3",
            version=pins.helm,
            binaries=(
                GoBinary(
                    "helm.sh/helm/v3/cmd/helm", "helm", (f"helm.sh/helm/v3/internal/version.version={pins.helm}",)
                ),
            ),
        ),
    ]


#: Version of azora's own ``pause`` (``toolchain/pause``); bump it with its source.
PAUSE_VERSION = "1.0"
#: The CoreDNS plugins ``toolchain/coredns`` compiles in, in chain order (the order
#: of CoreDNS's plugin.cfg); its main.go sets ``dnsserver.Directives`` to this list.
COREDNS_PLUGINS = ("bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes")


def prometheus_version(module_version: str) -> str:
    """Prometheus's release of its Go module version: v0.316.0 is 3.16.0 (v0.<major><minor>.<patch>)."""
    _, minor, patch = parse_version(module_version)
    return f"{minor // 100}.{minor % 100}.{patch}"


def cluster_pieces(pins: Pins) -> list[Piece]:
    """A local Kubernetes cluster: etcd, the three control-plane binaries, kwok (fake
    nodes and kubelets), a real node's kubelet, kube-proxy and pause, and CoreDNS."""
    kube = pins.cluster_kubernetes
    major, minor, _ = parse_version(kube)
    staging = f"v0.{minor}.{parse_version(kube)[2]}"
    version_pkg = "k8s.io/component-base/version"
    kube_xflags = (
        f"{version_pkg}.gitVersion={kube}",
        f"{version_pkg}.gitMajor={major}",
        f"{version_pkg}.gitMinor={minor}",
        f"{version_pkg}.gitTreeState=clean",
    )
    kube_binaries = tuple(
        GoBinary(f"k8s.io/kubernetes/cmd/{name}", name, kube_xflags)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    )
    etcd = pins.cluster_etcd
    return [
        Piece(
            name="etcd",
            group=CLUSTER_GROUP,
            summary="etcd",
            version_label=etcd.lstrip("v"),
            module="go.etcd.io/etcd/server/v3",
            version=etcd,
            siblings=(("go.etcd.io/etcd/*", etcd), ("go.etcd.io/etcd", DROP), ("go.etcd.io/tests/v3", DROP)),
            binaries=(GoBinary("go.etcd.io/etcd/server/v3", "etcd"),),
        ),
        Piece(
            name="kube-control-plane",
            group=CLUSTER_GROUP,
            summary="kube-apiserver, kube-controller-manager, kube-scheduler",
            version_label=kube.lstrip("v"),
            module="k8s.io/kubernetes",
            version=kube,
            # k8s.io/kubernetes replaces every k8s.io/* staging module with
            # ./staging/src/...; each is published at v0.<minor>.<patch>.
            siblings=(("k8s.io/*", staging),),
            binaries=kube_binaries,
        ),
        Piece(
            name="kwok",
            group=CLUSTER_GROUP,
            summary="kwok (simulated nodes)",
            version_label=pins.cluster_kwok.lstrip("v"),
            module="sigs.k8s.io/kwok",
            version=pins.cluster_kwok,
            binaries=(GoBinary("sigs.k8s.io/kwok/cmd/kwok", "kwok"),),
        ),
        Piece(
            # The same module, version, replaces and version variables as
            # kube-control-plane, but a piece of its own: adding binaries to that
            # piece would change its fingerprint and rebuild the control plane.
            name="kube-node",
            group=CLUSTER_GROUP,
            summary="kubelet, kube-proxy",
            version_label=kube.lstrip("v"),
            module="k8s.io/kubernetes",
            version=kube,
            siblings=(("k8s.io/*", staging),),
            binaries=tuple(
                GoBinary(f"k8s.io/kubernetes/cmd/{name}", name, kube_xflags) for name in ("kubelet", "kube-proxy")
            ),
        ),
        Piece(
            # PID 1 of every pod sandbox: holds the namespaces, reaps zombies.
            name="pause",
            group=CLUSTER_GROUP,
            summary="the pod sandbox process",
            version_label=PAUSE_VERSION,
            local="pause",
            binaries=(GoBinary(".", "pause", (f"main.version={PAUSE_VERSION}",)),),
        ),
        Piece(
            # Cluster DNS, run by the cluster as a host process. A local module:
            # CoreDNS with only COREDNS_PLUGINS (toolchain/coredns/main.go); its
            # version is in toolchain/coredns/go.mod and pins.toml.
            name="coredns",
            group=CLUSTER_GROUP,
            summary="cluster DNS",
            version_label=pins.cluster_coredns.lstrip("v"),
            local="coredns",
            binaries=(GoBinary(".", "coredns"),),
        ),
        Piece(
            # The local stack's Prometheus (azora.images builds its image from this binary).
            # Debian's package patches Kubernetes service discovery out; upstream's
            # `remove_all_sd` tag drops every discovery plugin and `enable_kubernetes_sd`
            # brings back the one the embedded Prometheus uses.
            name="prometheus",
            group=CLUSTER_GROUP,
            summary="Prometheus with Kubernetes discovery",
            version_label=prometheus_version(pins.cluster_prometheus),
            module="github.com/prometheus/prometheus",
            version=pins.cluster_prometheus,
            binaries=(
                GoBinary(
                    "github.com/prometheus/prometheus/cmd/prometheus",
                    "prometheus",
                    (
                        f"github.com/prometheus/common/version.Version={prometheus_version(pins.cluster_prometheus)}",
                        "github.com/prometheus/common/version.Branch=HEAD",
                    ),
                    ("remove_all_sd", "enable_kubernetes_sd"),
                ),
            ),
        ),
    ]


def pieces_for(pins: Pins, groups: Sequence[str]) -> list[Piece]:
    """The pieces of the requested groups, in build order."""
    known = {PULUMI_GROUP: pulumi_pieces, CLUSTER_GROUP: cluster_pieces}
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise ToolchainError(f"unknown toolchain group(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [piece for group in groups for piece in known[group](pins)]
