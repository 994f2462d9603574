"""The Pulumi toolchain azora runs: find it, build it from Go modules, put it on PATH.

Nothing on this project's machines can download the official Pulumi CLI or plugins;
only package registries are reachable, and none ships them. So azora builds every
piece from Go modules with the machine's Go into a versioned cache outside the repo::

    $AZORA_CACHE_DIR | $XDG_CACHE_HOME/azora | ~/.cache/azora
      toolchain/<tag>/bin/         pulumi, pulumi-language-python(-exec): goes on PATH
      toolchain/<tag>/plugins/     provider binaries, installed as Pulumi plugins
      toolchain/<tag>/build/<piece>/  generated wrapper modules
      toolchain/<tag>/stamps/<piece>.json  what was built, from what, in how long
      toolchain/<tag>/logs/<piece>.log     full go output of the last build

`<tag>` names the versions (``pulumi-3.259.0_kubernetes-4.25.0_random-4.16.6``), all
read from ``toolchain/pins.toml``, the one place they are written down. The provider
plugins are then installed with ``pulumi plugin install --file`` so the engine never
tries to download one.

Public API (used by the CLI and by the engine wrappers):

* ``find_toolchain() -> Toolchain | None`` finds a usable toolchain, never builds.
* ``ensure_toolchain(console=None, groups=("pulumi",)) -> Toolchain`` finds or builds.
* ``Toolchain.env(base=os.environ) -> dict[str, str]`` is the environment to run
  ``pulumi`` in: the bin directory first on PATH, update checks and plugin downloads
  off.
* ``ToolchainError`` is raised for everything a user can fix; its message says what
  is missing and what to do, and commands print it instead of a traceback.

Pieces are data (``Piece``): the module, version, packages, link flags and generate
steps of each binary. They come in groups; ``"pulumi"`` is the Pulumi set and a
``"cluster"`` group (a local Kubernetes control plane) can be added the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLCHAIN_SRC = REPO_ROOT / "toolchain"
PINS_FILE = TOOLCHAIN_SRC / "pins.toml"

#: Bump when the build procedure itself changes, so every stamp goes stale.
BUILD_RECIPE = "1"

PULUMI_INSTALL_HINT = "curl -fsSL https://get.pulumi.com | sh"
PULUMI_GROUP = "pulumi"
CLUSTER_GROUP = "cluster"
#: A ``siblings`` value meaning "drop this replace": upstream points a module it
#: forbids at a non-existent directory (etcd's FORBIDDEN_DEPENDENCY).
DROP = "-"
#: Free space a cold build of the Pulumi set needs (measured: Go module cache 4.1 GB,
#: Go build cache 7.5 GB, toolchain 0.35 GB, installed plugins 0.2 GB).
MIN_FREE_BYTES = 13 * 1024**3
#: Lines of go output kept for an error message when a step fails.
ERROR_TAIL_LINES = 25


class ToolchainError(RuntimeError):
    """A toolchain problem the user can act on; the message says what and how."""


# --------------------------------------------------------------------------- pins


def parse_version(text: str) -> tuple[int, int, int]:
    """``"v3.259.0"``, ``"3.259.0"`` or ``"go1.26.8"`` -> ``(3, 259, 0)``; pre-release
    and build suffixes are ignored. Raises ValueError for anything else."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


@dataclass(frozen=True)
class Pins:
    """The versions in ``toolchain/pins.toml`` (see the comments there for why)."""

    pulumi: str
    kubernetes: str
    random: str
    go_minimum: str
    pulumi_module_version: str
    kubernetes_module: str
    kubernetes_module_version: str
    kubernetes_sdk_module_version: str
    random_terraform_provider: str
    cluster_etcd: str = "v3.6.5"
    cluster_kubernetes: str = "v1.34.1"
    cluster_kwok: str = "v0.7.0"

    @classmethod
    def load(cls, path: Path = PINS_FILE) -> Pins:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ToolchainError(
                f"{path} is missing; azora's toolchain is built from a checkout of the "
                "azora repository (run azora from the repository, e.g. after `pip install -e .`)"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ToolchainError(f"{path} is not valid TOML: {exc}") from None
        try:
            return cls(
                pulumi=data["sdk"]["pulumi"],
                kubernetes=data["sdk"]["pulumi-kubernetes"],
                random=data["sdk"]["pulumi-random"],
                go_minimum=data["go"]["minimum"],
                pulumi_module_version=data["pulumi"]["module_version"],
                kubernetes_module=data["kubernetes"]["module"],
                kubernetes_module_version=data["kubernetes"]["module_version"],
                kubernetes_sdk_module_version=data["kubernetes"]["sdk_module_version"],
                random_terraform_provider=data["random"]["terraform_provider"],
                cluster_etcd=data["cluster"]["etcd"],
                cluster_kubernetes=data["cluster"]["kubernetes"],
                cluster_kwok=data["cluster"]["kwok"],
            )
        except KeyError as exc:
            raise ToolchainError(f"{path} lacks the key {exc}") from None

    @property
    def sdk_versions(self) -> dict[str, str]:
        """Python distribution name -> version it must be pinned to."""
        return {
            "pulumi": self.pulumi,
            "pulumi-kubernetes": self.kubernetes,
            "pulumi-random": self.random,
        }

    @property
    def plugins(self) -> dict[str, str]:
        """Resource plugin name -> version the Python SDKs ask the engine for."""
        return {"kubernetes": self.kubernetes, "random": self.random}

    def tag(self) -> str:
        """Name of the cache directory for these versions, e.g.
        ``pulumi-3.259.0_kubernetes-4.25.0_random-4.16.6``. Further groups (e.g. a
        ``cluster`` group) build into the same directory with their own stamps."""
        return f"pulumi-{self.pulumi}_kubernetes-{self.kubernetes}_random-{self.random}"


def installed_sdk_versions(names: Sequence[str]) -> dict[str, str | None]:
    """Versions of the given Python distributions in this interpreter (None if absent)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def sdk_mismatches(pins: Pins) -> list[str]:
    """Human-readable differences between pins.toml and the installed Python SDKs."""
    problems = []
    for name, installed in installed_sdk_versions(list(pins.sdk_versions)).items():
        wanted = pins.sdk_versions[name]
        if installed is not None and installed != wanted:
            problems.append(f"{name} {installed} is installed but the toolchain pins {wanted}")
    return problems


# --------------------------------------------------------------------------- paths


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Root of azora's caches: $AZORA_CACHE_DIR, else $XDG_CACHE_HOME/azora, else
    ~/.cache/azora."""
    env = os.environ if env is None else env
    if env.get("AZORA_CACHE_DIR"):
        return Path(env["AZORA_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "azora"
    return Path.home() / ".cache" / "azora"


def toolchain_dir(pins: Pins, env: Mapping[str, str] | None = None) -> Path:
    """``<cache root>/toolchain/<tag>`` for these pins."""
    return cache_root(env) / "toolchain" / pins.tag()


# --------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class GoBinary:
    """One ``go build`` output: the package to build and the file it becomes in bin."""

    package: str
    output: str
    #: ``-X importpath.name=value`` settings (version variables).
    xflags: tuple[str, ...] = ()


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
    ]


def cluster_pieces(pins: Pins) -> list[Piece]:
    """A local Kubernetes control plane: etcd, the three control-plane binaries and
    kwok (fake nodes and kubelets)."""
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
    ]


def pieces_for(pins: Pins, groups: Sequence[str]) -> list[Piece]:
    """The pieces of the requested groups, in build order."""
    known = {PULUMI_GROUP: pulumi_pieces, CLUSTER_GROUP: cluster_pieces}
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise ToolchainError(f"unknown toolchain group(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [piece for group in groups for piece in known[group](pins)]


def fingerprint(piece: Piece) -> str:
    """Hash of everything a piece's build depends on that azora controls: its
    description, the build recipe and, for local modules, their source files."""
    digest = hashlib.sha256()
    digest.update(BUILD_RECIPE.encode())
    digest.update(json.dumps(asdict(piece), sort_keys=True).encode())
    if piece.local:
        source = TOOLCHAIN_SRC / piece.local
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(source)).encode())
            digest.update(path.read_bytes())
    # Committed go.sum files only let go verify what it downloads; they do not
    # change what is built, so adding or refreshing one triggers no rebuild.
    return digest.hexdigest()


def sums_file(piece: Piece) -> Path:
    """Committed go.sum for a generated wrapper module, so builds verify module
    hashes without the checksum database (the reachable proxy does not serve it for
    most of these modules)."""
    return TOOLCHAIN_SRC / "sums" / f"{piece.name}.sum"


# --------------------------------------------------------------------------- stamps


def output_path(root: Path, piece: Piece, name: str) -> Path:
    """Where a built file goes. Provider plugins live in ``plugins/``, not ``bin/``:
    they reach the engine through ``pulumi plugin install``, and a provider binary on
    PATH makes every engine run warn "using pulumi-resource-... from $PATH"."""
    if piece.plugin is not None and name == piece.plugin[3]:
        return root / "plugins" / name
    return root / "bin" / name


def stamp_path(root: Path, piece: Piece) -> Path:
    return root / "stamps" / f"{piece.name}.json"


def read_stamp(root: Path, piece: Piece) -> dict[str, object] | None:
    try:
        data = json.loads(stamp_path(root, piece).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_fresh(root: Path, piece: Piece) -> bool:
    """True when the piece was built from exactly this description and its outputs
    are still in bin. Reads files only: no go, no subprocess."""
    stamp = read_stamp(root, piece)
    if stamp is None or stamp.get("fingerprint") != fingerprint(piece):
        return False
    return all(output_path(root, piece, name).is_file() for name in piece.outputs)


def write_stamp(root: Path, piece: Piece, seconds: float) -> None:
    path = stamp_path(root, piece)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "piece": piece.name,
        "version": piece.version_label,
        "module": piece.module or piece.local,
        "module_version": piece.version,
        "fingerprint": fingerprint(piece),
        "seconds": round(seconds, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "outputs": list(piece.outputs),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")


# --------------------------------------------------------------------------- toolchain


@dataclass(frozen=True)
class Toolchain:
    """A usable Pulumi toolchain.

    ``bin_dir`` holds ``pulumi`` and the plugins; prepend it to PATH (``env()`` does).
    ``source`` is ``"cache"`` for azora's own build and ``"system"`` for a compatible
    Pulumi installation that was already on PATH.
    """

    bin_dir: Path
    source: Literal["cache", "system"]
    pulumi_version: str
    plugins: Mapping[str, str] = field(default_factory=dict)

    @property
    def pulumi(self) -> Path:
        """Path of the ``pulumi`` executable."""
        return self.bin_dir / "pulumi"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for running ``pulumi`` (CLI or Automation API).

        Starts from ``base`` (default ``os.environ``) and sets:

        * ``PATH``: ``bin_dir`` first, so the CLI finds the language host, the exec
          shims and the provider binaries next to it;
        * ``PULUMI_SKIP_UPDATE_CHECK=true``: no network lookup of newer CLIs;
        * ``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true``: a missing plugin is an
          error, never a download attempt;
        * ``PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true``: the Automation API accepts
          the CLI without probing its version;
        * ``PULUMI_PYTHON_CMD`` (only if unset): this interpreter, so programs and
          policy packs without a ``virtualenv`` option import the same packages as
          azora itself.
        """
        env = dict(os.environ if base is None else base)
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != self.bin_dir]
        env["PATH"] = os.pathsep.join([str(self.bin_dir), *parts])
        env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
        env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
        env.setdefault("PULUMI_PYTHON_CMD", sys.executable)
        return env


def find_toolchain(groups: Sequence[str] = (PULUMI_GROUP,)) -> Toolchain | None:
    """A toolchain that is ready now, or None. Never builds and never installs.

    Prefers azora's cached build when every piece of ``groups`` is built from the
    current pins; otherwise a compatible ``pulumi`` on PATH that already has the
    pinned provider plugins (only for the Pulumi group, which is all it can offer).
    """
    pins = Pins.load()
    cached = _cached_toolchain(pins, groups)
    if cached is not None:
        return cached
    if set(groups) <= {PULUMI_GROUP}:
        return _system_toolchain(pins)
    return None


def ensure_toolchain(
    console: Console | None = None,
    groups: Sequence[str] = (PULUMI_GROUP,),
    *,
    force: bool = False,
) -> Toolchain:
    """Return a ready toolchain, building whatever is missing.

    Order: azora's cache (instant when built); a compatible ``pulumi`` on PATH with the
    pinned plugins (Pulumi group only); otherwise build the missing pieces with Go,
    showing progress on ``console`` (default: stderr), then install the provider
    plugins from the built files. ``force`` rebuilds every piece. Raises
    ``ToolchainError`` with instructions when nothing can be found or built.
    """
    console = console or Console(stderr=True, highlight=False)
    pins = Pins.load()
    for problem in sdk_mismatches(pins):
        console.print(f"[yellow]warning:[/] {escape(problem)} (pip install -e . to resync)")
    if not force:
        cached = _cached_toolchain(pins, groups)
        if cached is not None:
            _ensure_plugins(cached, pins, groups, console)
            return cached
        if set(groups) <= {PULUMI_GROUP}:
            system = _system_toolchain(pins)
            if system is not None:
                return system
    return _build(pins, groups, console, force=force)


def _cached_toolchain(pins: Pins, groups: Sequence[str]) -> Toolchain | None:
    root = toolchain_dir(pins)
    if all(is_fresh(root, piece) for piece in pieces_for(pins, groups)):
        return Toolchain(root / "bin", "cache", pins.pulumi, pins.plugins)
    return None


# --------------------------------------------------------------------------- system CLI


def _run_quiet(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60) -> str | None:
    """stdout of a short command, or None if it cannot run or fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=None if env is None else dict(env)
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def required_pulumi(pins: Pins) -> str:
    """The oldest CLI azora accepts: the installed ``pulumi`` SDK's version (the CLI
    must know everything the SDK may ask of it), or the pinned one if not installed."""
    return installed_sdk_versions(["pulumi"])["pulumi"] or pins.pulumi


def is_compatible_cli(cli_version: str, sdk_version: str) -> bool:
    """Same major version as the SDK and not older than it."""
    try:
        cli, sdk = parse_version(cli_version), parse_version(sdk_version)
    except ValueError:
        return False
    return cli[0] == sdk[0] and cli >= sdk


def installed_plugins(pulumi: Path, env: Mapping[str, str] | None = None) -> set[tuple[str, str, str]]:
    """``(kind, name, version)`` of the plugins ``pulumi plugin ls --json`` reports."""
    out = _run_quiet([str(pulumi), "plugin", "ls", "--json"], env=env)
    if not out:
        return set()
    try:
        entries = json.loads(out) or []
    except ValueError:
        return set()
    return {
        (str(e.get("kind")), str(e.get("name")), str(e.get("version", "")).lstrip("v"))
        for e in entries
        if isinstance(e, dict)
    }


def _system_toolchain(pins: Pins) -> Toolchain | None:
    found = shutil.which("pulumi")
    if found is None:
        return None
    pulumi = Path(found).resolve()
    if cache_root().resolve() in pulumi.parents:
        return None  # one of our own (maybe stale) builds on PATH: not a system install
    version = (_run_quiet([str(pulumi), "version"]) or "").strip().lstrip("v")
    if not version or not is_compatible_cli(version, required_pulumi(pins)):
        return None
    if not (pulumi.parent / "pulumi-language-python").exists() and not shutil.which("pulumi-language-python"):
        return None
    plugins = installed_plugins(pulumi)
    if not all(("resource", name, v) in plugins for name, v in pins.plugins.items()):
        return None
    return Toolchain(pulumi.parent, "system", version, pins.plugins)


# --------------------------------------------------------------------------- go


def find_go() -> Path | None:
    """The machine's ``go``: on PATH, else the standard /usr/local/go."""
    found = shutil.which("go")
    if found:
        return Path(found)
    default = Path("/usr/local/go/bin/go")
    return default if default.exists() else None


def go_version(go: Path) -> str | None:
    out = _run_quiet([str(go), "env", "GOVERSION"])
    return out.strip() if out else None


def go_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for go commands in a build.

    * ``GOFLAGS=-mod=mod``: wrapper modules gain requirements as packages need them;
    * ``GOSUMDB=off``: the reachable proxy does not serve the checksum database for
      most of these modules; hashes are still checked against the committed go.sum;
    * ``GOTOOLCHAIN=local``: never fetch another Go release;
    * ``CGO_ENABLED=0``: static binaries, no C compiler needed.
    """
    env = dict(os.environ if base is None else base)
    env.update(GOFLAGS="-mod=mod -buildvcs=false", GOSUMDB="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


def missing_everything_message(pins: Pins, go: Path | None, go_ver: str | None) -> str:
    """What to say when there is neither a usable Pulumi nor a Go to build one."""
    if go is None:
        go_part = "Go is not installed (needed to build the toolchain from Go modules)"
    else:
        go_part = f"Go at {go} is {go_ver or 'unusable'}, older than the required go{pins.go_minimum}"
    return (
        "no usable Pulumi toolchain:\n"
        f"  - no compatible `pulumi` on PATH (need v{required_pulumi(pins)} or newer in v3 with the "
        f"kubernetes {pins.kubernetes} and random {pins.random} plugins installed)\n"
        f"  - {go_part}\n"
        f"Either install Go {pins.go_minimum}+ and run `azora tools install` again, or install the "
        f"official Pulumi CLI: {PULUMI_INSTALL_HINT}\n"
        f"  then: pulumi plugin install resource kubernetes {pins.kubernetes} && "
        f"pulumi plugin install resource random {pins.random}"
    )


def _require_go(pins: Pins) -> Path:
    go = find_go()
    version = go_version(go) if go else None
    try:
        usable = version is not None and parse_version(version) >= parse_version(pins.go_minimum)
    except ValueError:
        usable = False
    if go is None or not usable:
        raise ToolchainError(missing_everything_message(pins, go, version))
    return go


# --------------------------------------------------------------------------- building


class StepRunner:
    """Runs the commands of one piece, streaming their output to its log file and to
    a one-line live status (or, without a terminal, a heartbeat every minute)."""

    def __init__(self, console: Console, log: IO[str], progress: Progress, task: TaskID, label: str):
        self.console, self.log, self.progress, self.task, self.label = console, log, progress, task, label
        self.tail: list[str] = []
        self.lines = 0

    def run(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], what: str) -> str:
        """Run a command; return its stdout+stderr; raise ToolchainError on failure."""
        self.log.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n")
        self.log.flush()
        self.progress.update(self.task, status=what)
        started = last_beat = time.monotonic()
        output: list[str] = []
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.write(line)
            output.append(line)
            self.lines += 1
            self.tail = (self.tail + [line.rstrip()])[-ERROR_TAIL_LINES:]
            self.progress.update(self.task, status=f"{what}: {line.strip()[-60:]}")
            if not self.console.is_terminal and time.monotonic() - last_beat > 60:
                last_beat = time.monotonic()
                elapsed = int(time.monotonic() - started)
                self.console.print(f"  … {self.label}: {what}, {elapsed // 60}m{elapsed % 60:02d}s")
        code = proc.wait()
        self.log.flush()
        if code != 0:
            tail = "\n".join(self.tail[-ERROR_TAIL_LINES:])
            raise ToolchainError(
                f"building {self.label} failed while trying to {what} (exit {code}); full log: {self.log.name}\n{tail}"
            )
        return "".join(output)


def _build(pins: Pins, groups: Sequence[str], console: Console, *, force: bool) -> Toolchain:
    go = _require_go(pins)
    root = toolchain_dir(pins)
    for sub in ("bin", "plugins", "build", "stamps", "logs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _check_disk(root)
    pieces = pieces_for(pins, groups)
    with _locked(root):
        todo = [p for p in pieces if force or not is_fresh(root, p)]
        if todo:
            console.print(
                f"building the Pulumi toolchain into {root} with {go_version(go)} "
                f"({len(todo)} of {len(pieces)} pieces; cold, on 2 cores: 12 to 28 minutes for the Pulumi set, "
                "5 to 12 more for the cluster)"
            )
        for piece in todo:
            _build_piece(piece, root, go, console)
        toolchain = Toolchain(root / "bin", "cache", pins.pulumi, pins.plugins)
        _ensure_plugins(toolchain, pins, groups, console)
    return toolchain


def _check_disk(root: Path) -> None:
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise ToolchainError(
            f"only {free / 1024**3:.1f} GB free at {root}; building the toolchain needs about "
            f"{MIN_FREE_BYTES / 1024**3:.0f} GB (Go module and build caches). Free some space or set "
            "AZORA_CACHE_DIR to a larger disk."
        )


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build per cache directory at a time (parallel CI jobs, two terminals)."""
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_piece(piece: Piece, root: Path, go: Path, console: Console) -> None:
    started = time.monotonic()
    label = f"{piece.name} {piece.version_label}"
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[status]}"),
    )
    with (
        open(root / "logs" / f"{piece.name}.log", "w") as log,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        task = progress.add_task(f"{label} ({piece.summary})", status="starting")
        runner = StepRunner(console, log, progress, task, label)
        if piece.files:
            _copy_module_files(piece, root, go, runner)
        if piece.binaries:
            _compile(piece, root, go, runner)
    seconds = time.monotonic() - started
    write_stamp(root, piece, seconds)
    console.print(f"[green]✓[/] {escape(label)} ({piece.summary}) built in {format_seconds(seconds)}")


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _download(module: str, version: str, go: Path, runner: StepRunner, cwd: Path) -> dict[str, str]:
    """``go mod download -json`` of one module version: its Dir and GoMod paths."""
    out = runner.run(
        [str(go), "mod", "download", "-json", f"{module}@{version}"], cwd, go_env(), f"download {module}@{version}"
    )
    try:
        info = json.loads(out[out.index("{") :])
    except ValueError:
        raise ToolchainError(f"unexpected output from go mod download for {module}@{version}") from None
    if info.get("Error"):
        raise ToolchainError(
            f"the Go module proxy does not provide {module}@{version}: {info['Error']}\n"
            "The pins in toolchain/pins.toml name versions known to be served; check GOPROXY."
        )
    return info


def _copy_module_files(piece: Piece, root: Path, go: Path, runner: StepRunner) -> None:
    assert piece.module and piece.version
    info = _download(piece.module, piece.version, go, runner, root)
    for item in piece.files:
        source = Path(info["Dir"]) / item.path
        if not source.is_file():
            raise ToolchainError(f"{piece.module}@{piece.version} has no file {item.path}")
        _install_file(source, output_path(root, piece, item.output))


def _install_file(source: Path, target: Path) -> None:
    """Copy atomically (a running pulumi may be executing the old file) and make it
    executable."""
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temp)
    temp.chmod(0o755)
    temp.replace(target)


def _compile(piece: Piece, root: Path, go: Path, runner: StepRunner) -> None:
    workdir = root / "build" / piece.name
    if workdir.exists():
        _make_writable(workdir)
        shutil.rmtree(workdir)
    if piece.local:
        shutil.copytree(TOOLCHAIN_SRC / piece.local, workdir)
    else:
        workdir.mkdir(parents=True)
        _write_wrapper(piece, workdir, go, runner)
    if sums_file(piece).exists() and not (workdir / "go.sum").exists():
        shutil.copyfile(sums_file(piece), workdir / "go.sum")
    env = go_env()
    runner.run([str(go), "mod", "tidy"], workdir, env, "resolve modules (go mod tidy)")
    for step in piece.generate:
        _run_generate(step, workdir, go, runner)
    for binary in piece.binaries:
        target = output_path(root, piece, binary.output)
        temp = target.with_name(f".{binary.output}.tmp")
        ldflags = " ".join(["-s", "-w", *(f"-X {x}" for x in binary.xflags)])
        runner.run(
            [str(go), "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(temp), binary.package],
            workdir,
            env,
            f"compile {binary.output}",
        )
        temp.replace(target)


def _make_writable(path: Path) -> None:
    """Module cache copies are read-only; make a tree deletable."""
    for item in [path, *path.rglob("*")]:
        if not item.is_symlink():
            item.chmod(item.stat().st_mode | 0o700)


def _write_wrapper(piece: Piece, workdir: Path, go: Path, runner: StepRunner) -> None:
    """A module that requires ``piece.module`` and mirrors its replace directives."""
    assert piece.module and piece.version
    info = _download(piece.module, piece.version, go, runner, workdir)
    upstream = json.loads(
        runner.run([str(go), "mod", "edit", "-json", info["GoMod"]], workdir, go_env(), "read upstream go.mod")
    )
    gomod = wrapper_gomod(piece, upstream.get("Replace") or [], upstream.get("Go") or "1.22")
    (workdir / "go.mod").write_text(gomod)
    packages = [b.package for b in piece.binaries if not b.package.startswith(".")]
    if piece.copy_dir:
        source = Path(info["Dir"]) / piece.copy_dir
        shutil.copytree(source, workdir / "gen")
        _make_writable(workdir / "gen")
    # Blank imports keep `go mod tidy` from dropping the requirement we build from.
    imports = "\n".join(f'import _ "{p}"' for p in packages)
    (workdir / "tools.go").write_text(
        f"//go:build tools\n\n// Package wrapper only pins the module azora builds.\npackage wrapper\n\n{imports}\n"
    )


def wrapper_gomod(piece: Piece, replaces: Sequence[Mapping[str, Mapping[str, str]]], go_directive: str) -> str:
    """go.mod text for a piece's wrapper module.

    ``replaces`` are the upstream module's replace directives as ``go mod edit -json``
    reports them. Replacements by another module version are copied as they are;
    replacements by a directory of the same repository (``=> ../sdk``) cannot be
    followed outside that repository, so they become the published version named in
    ``piece.siblings`` (exact module paths or globs such as ``k8s.io/*``; the value
    ``DROP`` omits the replace).
    """
    assert piece.module and piece.version
    lines = [
        f"// Generated by azora's toolchain build for {piece.name}; do not edit.",
        f"module azora.local/toolchain-build/{piece.name}",
        "",
        f"go {go_directive}",
        "",
        f"require {piece.module} {piece.version}",
        "",
    ]
    for rep in replaces:
        old, new = rep["Old"], rep["New"]
        old_spec = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
        sibling = sibling_version(piece, old["Path"])
        if new.get("Version"):
            lines.append(f"replace {old_spec} => {new['Path']} {new['Version']}")
        elif sibling == DROP:
            continue
        elif sibling is not None:
            lines.append(f"replace {old_spec} => {old['Path']} {sibling}")
        else:
            raise ToolchainError(
                f"{piece.module}@{piece.version} replaces {old['Path']} with the directory "
                f"{new['Path']}; add the published version to use for it to the piece's siblings"
            )
    return "\n".join(lines) + "\n"


def sibling_version(piece: Piece, module: str) -> str | None:
    """The published version to use for a directory replace of ``module``: an exact
    ``siblings`` entry wins over a glob (``k8s.io/*``); None if neither matches."""
    exact = dict(piece.siblings)
    if module in exact:
        return exact[module]
    for pattern, version in piece.siblings:
        if fnmatch.fnmatchcase(module, pattern):
            return version
    return None


def _run_generate(step: Generate, workdir: Path, go: Path, runner: StepRunner) -> None:
    tool = workdir / ".generate-tool"
    runner.run([str(go), "build", "-o", str(tool), step.program], workdir, go_env(), f"build generator {step.program}")
    env = dict(os.environ)
    env.update(dict(step.env))
    runner.run([str(tool), *step.args], workdir / step.workdir, env, f"generate ({step.program})")
    tool.unlink()
    for source, target in step.copies:
        shutil.copyfile(workdir / source, workdir / target)


# --------------------------------------------------------------------------- plugins


def _ensure_plugins(toolchain: Toolchain, pins: Pins, groups: Sequence[str], console: Console) -> None:
    """Register the built provider binaries with ``pulumi plugin install --file`` so the
    engine finds them by version and never downloads one."""
    wanted = [p.plugin for p in pieces_for(pins, groups) if p.plugin]
    if not wanted:
        return
    env = toolchain.env()
    have = installed_plugins(toolchain.pulumi, env)
    for kind, name, version, binary in wanted:
        if (kind, name, version) in have:
            continue
        argv = [
            str(toolchain.pulumi),
            "plugin",
            "install",
            kind,
            name,
            version,
            "--file",
            str(toolchain.bin_dir.parent / "plugins" / binary),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise ToolchainError(
                f"`{' '.join(argv)}` failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()}"
            )
        console.print(f"[green]✓[/] installed plugin {kind} {name} {version} from {binary}")


# --------------------------------------------------------------------------- reporting


def describe(toolchain: Toolchain, pins: Pins, groups: Sequence[str] = (PULUMI_GROUP,)) -> list[tuple[str, str, str]]:
    """Rows ``(piece, version, build time)`` for a summary table."""
    if toolchain.source != "cache":
        return [("pulumi (system)", toolchain.pulumi_version, "-")]
    root = toolchain.bin_dir.parent
    rows = []
    for piece in pieces_for(pins, groups):
        stamp = read_stamp(root, piece) or {}
        seconds = stamp.get("seconds")
        built = format_seconds(float(seconds)) if isinstance(seconds, int | float) else "?"
        rows.append((piece.name, piece.version_label, built))
    return rows
