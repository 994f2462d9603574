"""The images the embedded cluster's node runs, built from the cache when it can be.

The stand-in image (STANDIN_IMAGE): its Debian layer (recipes.STANDIN) and an app layer with
azora/__init__.py and azora/standin/*.py under /opt/azora, plus /tmp; it runs
`python3 -m azora.standin serve --listen 0.0.0.0` as 10001:10001 (the pods' RUN_AS_USER) on a
read-only root. Every Azora service's image is this one under another name (plan.py).

The pause image (PAUSE_IMAGE): containerd's sandbox_image, one layer holding the static `pause`
binary that the toolchain builds, run as 65535:65535 like the upstream one.

The Prometheus image (PROMETHEUS_IMAGE), for the stacks that run the embedded Prometheus: its
Debian layer (recipes.PROMETHEUS: Debian's prometheus binary, libc and the web UI) and a layer
holding only /prometheus, owned by nobody as in the upstream image, so that the image also runs
without a volume. It runs `/usr/bin/prometheus` as 65534:65534 (nobody) with the upstream
image's default arguments (config in /etc/prometheus, storage in /prometheus), which a pod's
`args` replace; on a read-only root it writes only to /prometheus (an emptyDir in the pod). Its
tag is the upstream version of the Debian package, checked at every build.

Each part is cached by its inputs (the layers) or its content (the archive, by manifest digest),
so a build whose inputs are unchanged reads a few small files and hashes the stand-in's sources.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import azora
from azora.images import recipes, rootfs
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
PROMETHEUS_IMAGE = "azora.local/prometheus:2.42.0"
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
    entrypoint=("/usr/bin/prometheus",),
    cmd=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
    env=(PATH_ENV,),
    user=f"{NOBODY}:{NOBODY}",
    workdir="/",
    labels=(("org.opencontainers.image.title", "azora prometheus"),),
)
PROMETHEUS_STORAGE = dir_entry("prometheus", 0o755, owner=(NOBODY, NOBODY))


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


def upstream_version(debian_version: str) -> str:
    """`1:2.42.0+ds-5+deb12u1` -> `2.42.0`: without epoch, Debian revision and repack suffix."""
    version = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return version.split("+", 1)[0].split("~", 1)[0]


def build_prometheus_image(cache: Path | None = None, progress: Progress = _quiet) -> BuiltImage:
    """The Prometheus image's archive: from the cache, or built (the Debian layer with mmdebstrap)."""
    started = time.monotonic()
    root = cache or cache_root()
    base, packages, base_hit = rootfs.rootfs_layer(recipes.PROMETHEUS, root, progress)
    tag = PROMETHEUS_IMAGE.rsplit(":", 1)[1]
    debian = packages.get("prometheus", "(not downloaded)")
    if upstream_version(debian) != tag:
        raise ImageError(
            f"cannot build {PROMETHEUS_IMAGE}: {recipes.DEBIAN_SUITE}'s prometheus package is {debian}, not {tag}"
        )
    storage = PROMETHEUS_STORAGE
    data_key = content_key({"dirs": [[storage.name, storage.mode, *storage.owner]]})
    data, data_hit = _layer(root, "data", data_key, lambda: [storage])
    archive, digest, archive_hit = _archive(root, PROMETHEUS_IMAGE, [base, data], PROMETHEUS_RUN)
    seconds = time.monotonic() - started
    hit = base_hit and data_hit and archive_hit
    return BuiltImage(PROMETHEUS_IMAGE, archive, digest, archive.stat().st_size, hit, seconds, packages)


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


def static_binary_problem(binary: bytes) -> str | None:
    """Why this ELF file cannot be an image's only file (None if it can): a dynamically linked
    one needs a loader the image does not have, and would fail to start as 'no such file'."""
    if binary[:4] != b"\x7fELF" or binary[4] not in (1, 2) or binary[5] not in (1, 2):
        return "it is not an ELF executable"
    wide, order = binary[4] == 2, "<" if binary[5] == 1 else ">"
    offsets = (32, "Q", 54) if wide else (28, "I", 42)  # e_phoff; e_phentsize and e_phnum
    try:
        (phoff,) = struct.unpack_from(order + offsets[1], binary, offsets[0])
        phentsize, phnum = struct.unpack_from(order + "HH", binary, offsets[2])
        types = [struct.unpack_from(order + "I", binary, phoff + i * phentsize)[0] for i in range(phnum)]
    except struct.error:
        return "its ELF header is truncated"
    if 3 in types:  # PT_INTERP
        return "it is dynamically linked (build it with CGO_ENABLED=0)"
    return None


__all__ = [
    "PAUSE_IMAGE",
    "PROMETHEUS_IMAGE",
    "STANDIN_IMAGE",
    "BuiltImage",
    "build_pause_image",
    "build_prometheus_image",
    "build_standin_image",
]
