"""Container images for the embedded cluster's node, built here (there is no registry to pull
from) and imported into its containerd under the names the stack uses: the stand-in from Debian
packages and azora's sources, the pause and Prometheus images from the toolchain's static
binaries (Prometheus from its Go module: Debian's build has no Kubernetes service discovery,
which the embedded Prometheus needs).

- plan.py: which references a stack names (`images_for`), checked before anything is built;
- recipes.py: what the stand-in's Debian layer holds, rootfs.py: that layer (mmdebstrap);
- binaries.py: the checks on a static Go binary (ELF, Go build info);
- build.py: the stand-in, pause and Prometheus images, oci.py: deterministic layers and the
  OCI archive, cache.py: the content-keyed cache;
- containerd.py: `ctr images import` and `ctr images tag` into the `k8s.io` namespace.

    ensure_stack_images(config, address, pause_binary, prometheus_binary, progress) -> ImageReport
    ensure_pause_image(address, pause_binary) -> ImageResult
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from azora.images.build import (
    PAUSE_IMAGE,
    PROMETHEUS_IMAGE,
    STANDIN_IMAGE,
    BuiltImage,
    build_pause_image,
    build_prometheus_image,
    build_standin_image,
)
from azora.images.containerd import import_image
from azora.images.errors import ImageError, ImageRefError
from azora.images.plan import PROMETHEUS, STANDIN, ImageSource, images_for

if TYPE_CHECKING:
    from azora.config.model import StackConfig

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageResult:
    """One image: built (or taken from the cache) and present in containerd under `refs`."""

    ref: str  # the name the archive gives it
    refs: tuple[str, ...]  # every name it has in containerd after the import (ref first)
    digest: str  # manifest digest
    size: int  # archive bytes
    cache_hit: bool
    build_seconds: float
    import_seconds: float
    imported: bool  # False: containerd already had it under `ref`
    tagged: tuple[str, ...]  # names that were added or moved
    packages: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        how = "cached" if self.cache_hit else "built"
        did = "imported" if self.imported else "already imported"
        tags = f", {len(self.tagged)} name(s) tagged" if self.tagged else ""
        return (
            f"{self.ref} {self.digest[7:19]} ({self.size / 2**20:.1f} MiB): {how} in {self.build_seconds:.2f} s, "
            f"{did}{tags} in {self.import_seconds:.2f} s"
        )


@dataclass(frozen=True)
class ImageReport:
    """What ensure_stack_images did: the pause image, the stand-in under the stack's names, and
    the Prometheus image when the stack runs the embedded Prometheus."""

    pause: ImageResult
    standin: ImageResult
    prometheus: ImageResult | None = None

    @property
    def results(self) -> tuple[ImageResult, ...]:
        """Every image, in the order they were made."""
        return tuple(result for result in (self.pause, self.standin, self.prometheus) if result is not None)

    @property
    def build_seconds(self) -> float:
        return sum(result.build_seconds for result in self.results)

    @property
    def import_seconds(self) -> float:
        return sum(result.import_seconds for result in self.results)

    @property
    def cache_hit(self) -> bool:
        return all(result.cache_hit for result in self.results)


def _quiet(message: str) -> None:
    pass


def _ensure(
    address: str, image: BuiltImage, refs: Sequence[str], snapshotter: str | None, progress: Progress
) -> ImageResult:
    done = import_image(address, image, refs, snapshotter=snapshotter)
    names = (image.ref, *sorted(set(refs) - {image.ref}))
    result = ImageResult(
        image.ref, names, image.digest, image.size, image.cache_hit, image.seconds,
        done.seconds, done.imported, done.tagged, image.packages,
    )  # fmt: skip
    progress(f"images: {result.summary()}")
    return result


def ensure_pause_image(
    containerd_address: str,
    pause_binary: Path,
    *,
    progress: Progress = _quiet,
    cache: Path | None = None,
    snapshotter: str | None = None,
) -> ImageResult:
    """Build (or take from the cache) PAUSE_IMAGE from the static pause binary and import it."""
    return _ensure(containerd_address, build_pause_image(pause_binary, cache), (), snapshotter, progress)


def ensure_stack_images(
    config: StackConfig,
    containerd_address: str,
    pause_binary: Path,
    prometheus_binary: Path,
    progress: Progress = _quiet,
    *,
    cache: Path | None = None,
    snapshotter: str | None = None,
) -> ImageReport:
    """Make containerd hold the pause image, the stand-in under every reference the stack's
    services name, and the Prometheus image if the stack runs the embedded Prometheus (from
    `prometheus_binary`, the toolchain's; not read otherwise). Checks the references first
    (ImageRefError), then builds every image, then imports: a binary the toolchain lacks stops
    it with containerd untouched."""
    plan = images_for(config)
    refs = {
        builder: [ref for ref, source in plan.items() if source.builder == builder] for builder in (STANDIN, PROMETHEUS)
    }
    pause_image = build_pause_image(pause_binary, cache)
    prometheus_image = build_prometheus_image(prometheus_binary, cache) if refs[PROMETHEUS] else None
    standin_image = build_standin_image(cache, progress)
    pause = _ensure(containerd_address, pause_image, (), snapshotter, progress)
    standin = _ensure(containerd_address, standin_image, refs[STANDIN], snapshotter, progress)
    prometheus = None
    if prometheus_image is not None:
        prometheus = _ensure(containerd_address, prometheus_image, refs[PROMETHEUS], snapshotter, progress)
    return ImageReport(pause, standin, prometheus)


__all__ = [
    "PAUSE_IMAGE",
    "PROMETHEUS_IMAGE",
    "STANDIN_IMAGE",
    "ImageError",
    "ImageRefError",
    "ImageReport",
    "ImageResult",
    "ImageSource",
    "ensure_pause_image",
    "ensure_stack_images",
    "images_for",
]
