"""The images the embedded cluster's node runs, built from the cache when it can be.

The stand-in image (STANDIN_IMAGE): its Debian layer (recipes.STANDIN) and an app layer with
azora/__init__.py and azora/standin/*.py under /opt/azora, plus /tmp; it runs
`python3 -m azora.standin serve --listen 0.0.0.0` as 10001:10001 (the pods' RUN_AS_USER) on a
read-only root. Every Azora service's image is this one under another name (plan.py).

The pause image (PAUSE_IMAGE): containerd's sandbox_image, one layer holding the static `pause`
binary that the toolchain builds, run as 65535:65535 like the upstream one.

The Prometheus image (PROMETHEUS_IMAGE), for the stacks that run the embedded Prometheus, is
made the same way from the toolchain's static `prometheus` (the `prometheus` piece of its
cluster group: upstream's Go module with only Kubernetes discovery compiled in). Not Debian's
package: Debian patches Kubernetes service discovery out of its build, so its Prometheus refuses
the embedded Prometheus's `kubernetes_sd_configs` and the pod crashes. One layer: /bin/prometheus,
/etc/prometheus with a default prometheus.yml (Prometheus scraping itself, as upstream's image),
and /prometheus owned by nobody, as in upstream's image, so that it also runs without a volume.
It runs /bin/prometheus as 65534:65534 with upstream's default arguments (config in
/etc/prometheus, storage in /prometheus), which a pod's `args` replace; on a read-only root it
writes only to /prometheus (an emptyDir in the pod). The binary carries no web UI assets (those
need upstream's `builtinassets` build): the UI pages answer 500, while the API, /metrics,
/-/ready and /-/healthy, all that azora uses, work. Before building, the binary must be static
and, by the build info Go recorded in it, Prometheus at the image's tag with Kubernetes
discovery, so that the tag never names another release.

Each part is cached by its inputs (the layers) or its content (the archive, by manifest digest),
so a build whose inputs are unchanged reads a few small files and hashes the stand-in's sources
and the binaries (about 0.15 s for Prometheus's 76 MB).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import azora
from azora.images import recipes, rootfs
from azora.images.binaries import go_build_info, static_binary_problem
from azora.images.cache import cache_root, cached_entry, content_key, read_json, write_json
from azora.images.errors import ImageError
from azora.images.oci import (
    Entry,
    Layer,
    RunConfig,
    digest_of,
    dir_entry,
    file_entry,
    image_config,
    image_manifest,
    write_archive,
    write_layer,
)

Progress = Callable[[str], None]

STANDIN_IMAGE = "azora.local/standin:latest"
PAUSE_IMAGE = "azora.local/pause:3.10"
PROMETHEUS_IMAGE = "azora.local/prometheus:3.16.0"  # = azora.config.sections.EMBEDDED_PROMETHEUS_IMAGE
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_LAYER_VERSION = 1  # bump when the Prometheus layer's recipe changes (the binary is keyed apart)
TOOLS_HINT = "run `azora tools install --with cluster` (make tools) to build it"
APP_VERSION = 1  # bump when the app layer's recipe changes
APP_ROOT = "opt/azora"
NOBODY = 65534
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STANDIN_RUN = RunConfig(
    entrypoint=("python3", "-m", "azora.standin", "serve", "--listen", "0.0.0.0"),
    env=(
        PATH_ENV,
        f"PYTHONPATH=/{APP_ROOT}",
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
    ),
    user="10001:10001",
    workdir="/",
    labels=(("org.opencontainers.image.title", "azora stand-in"),),
)
PAUSE_RUN = RunConfig(entrypoint=("/pause",), user="65535:65535", workdir="/")
PROMETHEUS_RUN = RunConfig(
    entrypoint=("/bin/prometheus",),
    cmd=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
    env=(PATH_ENV,),
    user=f"{NOBODY}:{NOBODY}",
    workdir="/",
    labels=(("org.opencontainers.image.title", "azora prometheus"),),
)
PROMETHEUS_CONFIG = b"""# The image's default (as upstream's): Prometheus scraping itself. The embedded Prometheus's
# pod mounts its own configuration over /etc/prometheus.
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
"""


@dataclass(frozen=True)
class BuiltImage:
    """An image archive in the cache, ready for `ctr images import`."""

    ref: str  # the name the archive gives the image
    archive: Path
    digest: str  # the manifest's: what `ctr images ls` shows
    size: int  # bytes of the archive
    cache_hit: bool
    seconds: float
    packages: dict[str, str] = field(default_factory=dict)  # Debian package -> version


def _quiet(message: str) -> None:
    pass


def standin_sources() -> list[tuple[str, Path]]:
    """(name in the image, file) for what the stand-in imports: azora/__init__.py, azora/standin/*.py."""
    package = Path(azora.__file__).resolve().parent
    files = [package / "__init__.py", *sorted((package / "standin").glob("*.py"))]
    return [(f"{APP_ROOT}/{path.relative_to(package.parent).as_posix()}", path) for path in files]


def app_entries(sources: Sequence[tuple[str, Path]]) -> list[Entry]:
    """The app layer: the sources, their directories, and /tmp (sticky, writable by all)."""
    directories = {str(Path(name).parent) for name, _ in sources}
    for directory in list(directories):
        directories.update(str(parent) for parent in Path(directory).parents if str(parent) != ".")
    entries = [dir_entry(name) for name in sorted(directories)]
    entries += [file_entry(name, path.read_bytes()) for name, path in sources]
    return [*entries, dir_entry("tmp", 0o1777)]


def _layer(cache: Path, kind: str, key: str, entries: Callable[[], list[Entry]]) -> tuple[Layer, bool]:
    def build(scratch: Path) -> None:
        write_json(scratch / "meta.json", {"layer": write_layer(entries(), scratch / "layer.tar.gz").meta()})

    entry, hit = cached_entry(cache, kind, key, build)
    return Layer.from_meta(read_json(entry / "meta.json")["layer"], entry / "layer.tar.gz"), hit


def _archive(cache: Path, ref: str, layers: Sequence[Layer], run: RunConfig) -> tuple[Path, str, bool]:
    config = image_config(layers, run)
    manifest = image_manifest(config, layers)
    digest = digest_of(manifest)

    def build(scratch: Path) -> None:
        write_archive(scratch / "image.tar", ref, manifest, config, layers)
        (scratch / "ref").write_text(ref)

    entry, hit = cached_entry(cache, "archives", content_key({"ref": ref, "manifest": digest}), build)
    if not hit:
        _prune_archives(entry, ref)
    return entry / "image.tar", digest, hit


def _prune_archives(keep: Path, ref: str) -> None:
    """Remove the archives of older builds of `ref` (their layers stay cached): each stand-in
    edit would otherwise leave another 20 MB behind."""
    for other in keep.parent.iterdir():
        marker = other / "ref"
        if other != keep and not other.name.startswith(".") and marker.is_file() and marker.read_text() == ref:
            shutil.rmtree(other, ignore_errors=True)


def build_standin_image(cache: Path | None = None, progress: Progress = _quiet) -> BuiltImage:
    """The stand-in image's archive: from the cache, or built (the Debian layer with mmdebstrap)."""
    started = time.monotonic()
    root = cache or cache_root()
    base, packages, base_hit = rootfs.rootfs_layer(recipes.STANDIN, root, progress)
    sources = standin_sources()
    digests = [(name, hashlib.sha256(path.read_bytes()).hexdigest()) for name, path in sources]
    app_key = content_key({"app": APP_VERSION, "files": digests})
    app, app_hit = _layer(root, "app", app_key, lambda: app_entries(sources))
    archive, digest, archive_hit = _archive(root, STANDIN_IMAGE, [base, app], STANDIN_RUN)
    hit = base_hit and app_hit and archive_hit
    seconds = time.monotonic() - started
    return BuiltImage(STANDIN_IMAGE, archive, digest, archive.stat().st_size, hit, seconds, packages)


def prometheus_release(module_version: str) -> str:
    """The Prometheus release of its Go module's version: v0.316.0 is 3.16.0 (since 3.0 the
    module is v0.<major><minor, two digits>.<patch>), v0.54.1 is 2.54.1 (2.x: v0.<minor>.<patch>);
    any other form comes back as it is."""
    match = re.fullmatch(r"v0\.(\d+)\.(\d+)", module_version)
    if match is None:
        return module_version
    number, patch = int(match[1]), int(match[2])
    major, minor = divmod(number, 100) if number >= 300 else (2, number)
    return f"{major}.{minor}.{patch}"


def prometheus_binary_problem(binary: bytes) -> str | None:
    """Why `binary` cannot be the image's Prometheus (None if it can): it must be static and, by
    its Go build info, a build of PROMETHEUS_MODULE at the image's tag with Kubernetes discovery
    (a build with `remove_all_sd` needs `enable_kubernetes_sd` too; one with neither has all)."""
    problem = static_binary_problem(binary)
    if problem:
        return problem
    info = go_build_info(binary)
    version = info.modules.get(PROMETHEUS_MODULE) if info else None
    if info is None or version is None:
        return f"it is not a build of {PROMETHEUS_MODULE} (no Go build info in it names that module)"
    tag = PROMETHEUS_IMAGE.rsplit(":", 1)[1]
    if prometheus_release(version) != tag:
        return (
            f"it is Prometheus {prometheus_release(version)} ({PROMETHEUS_MODULE} {version}), not {tag}; {TOOLS_HINT}"
        )
    if "remove_all_sd" in info.tags and "enable_kubernetes_sd" not in info.tags:
        return f"it is built without Kubernetes service discovery (-tags {','.join(info.tags)})"
    return None


def prometheus_entries(binary: bytes) -> list[Entry]:
    """The Prometheus image's one layer: the binary, its default config, and /prometheus for nobody."""
    return [
        dir_entry("bin"),
        file_entry("bin/prometheus", binary, 0o755),
        dir_entry("etc"),
        dir_entry("etc/prometheus"),
        file_entry("etc/prometheus/prometheus.yml", PROMETHEUS_CONFIG),
        dir_entry("prometheus", 0o755, owner=(NOBODY, NOBODY)),
    ]


def build_prometheus_image(prometheus_binary: Path, cache: Path | None = None) -> BuiltImage:
    """The Prometheus image's archive, from the toolchain's static binary at `prometheus_binary`."""
    started = time.monotonic()
    root = cache or cache_root()
    try:
        binary = prometheus_binary.read_bytes()
    except FileNotFoundError:
        raise ImageError(
            f"cannot build {PROMETHEUS_IMAGE}: the toolchain has no Prometheus ({prometheus_binary} is missing); "
            + TOOLS_HINT
        ) from None
    except OSError as exc:
        raise ImageError(f"cannot build {PROMETHEUS_IMAGE}: cannot read {prometheus_binary}: {exc.strerror}") from None
    problem = prometheus_binary_problem(binary)
    if problem:
        raise ImageError(f"cannot build {PROMETHEUS_IMAGE} from {prometheus_binary}: {problem}")
    key = content_key(
        {
            "prometheus": hashlib.sha256(binary).hexdigest(),
            "config": hashlib.sha256(PROMETHEUS_CONFIG).hexdigest(),
            "layer": PROMETHEUS_LAYER_VERSION,
        }
    )
    layer, layer_hit = _layer(root, "prometheus", key, lambda: prometheus_entries(binary))
    archive, digest, archive_hit = _archive(root, PROMETHEUS_IMAGE, [layer], PROMETHEUS_RUN)
    seconds = time.monotonic() - started
    return BuiltImage(PROMETHEUS_IMAGE, archive, digest, archive.stat().st_size, layer_hit and archive_hit, seconds)


def build_pause_image(pause_binary: Path, cache: Path | None = None) -> BuiltImage:
    """The pause image's archive, from the static binary at `pause_binary`."""
    started = time.monotonic()
    root = cache or cache_root()
    try:
        binary = pause_binary.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot build {PAUSE_IMAGE}: cannot read {pause_binary}: {exc.strerror}") from None
    problem = static_binary_problem(binary)
    if problem:
        raise ImageError(f"cannot build {PAUSE_IMAGE} from {pause_binary}: {problem}")
    key = content_key({"pause": hashlib.sha256(binary).hexdigest()})
    layer, layer_hit = _layer(root, "pause", key, lambda: [file_entry("pause", binary, 0o755)])
    archive, digest, archive_hit = _archive(root, PAUSE_IMAGE, [layer], PAUSE_RUN)
    seconds = time.monotonic() - started
    return BuiltImage(PAUSE_IMAGE, archive, digest, archive.stat().st_size, layer_hit and archive_hit, seconds)


__all__ = [
    "PAUSE_IMAGE",
    "PROMETHEUS_IMAGE",
    "STANDIN_IMAGE",
    "BuiltImage",
    "build_pause_image",
    "build_prometheus_image",
    "build_standin_image",
]
