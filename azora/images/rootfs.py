"""The Debian layer of the stand-in image: python3 and python3-prometheus-client from Debian
bookworm, unpacked by mmdebstrap, rewritten as a deterministic layer and cached by its recipe.

Why `--variant=extract`: the stand-in needs an interpreter, the standard library and one
module, not a system. Measured here (bookworm, amd64, 2 busy cores), with the path excludes
below: `extract` downloads python3 and python3-prometheus-client with their dependencies (43
packages) and unpacks them without maintainer scripts: 10 to 16 s for the whole layer, 53 MB
(22 MB gzip); `essential` adds the Essential:yes set (bash, coreutils, perl-base, ...) and runs
every maintainer script: 22 s for mmdebstrap alone, 138 MB (49 MB gzip); `custom` needs dpkg
inside to configure packages. Of what the skipped maintainer scripts do, the image needs only
byte-compiling (no users, alternatives or services): a hook compiles /usr/lib's Python in the
chroot with the image's own python3 (unchecked-hash .pyc files, valid whatever the layer's
mtimes), which takes a pod's interpreter start from 0.35 s to 0.09 s. ca-certificates is left
out: the stand-in makes no TLS connections.

The layer drops what mmdebstrap leaves for its own use (apt's sources and lists, /dev nodes,
the build host's resolv.conf and hostname): the runtime provides /dev and the network files.
The package versions come from the downloaded .debs (an extract-hook), recorded in the cache
entry's meta.json, since extract installs nothing into dpkg's status file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from azora.images.cache import cached_entry, content_key, read_json, write_json
from azora.images.errors import ImageError
from azora.images.oci import Entry, Layer, dir_entry, host_platform, write_layer

Progress = Callable[[str], None]

BUILDER_VERSION = 1  # bump when the recipe below changes what the layer holds
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-prometheus-client")
PATH_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/locale/*",
    "/usr/share/info/*",
    "/usr/share/lintian/*",
    "/usr/lib/*/gconv/*",  # glibc's iconv modules (8 MB): Python has its own codecs
)
# Not compiled: tests and GUI or teaching modules a server never imports.
BYTECODE_SKIP = r"/test/|/tests/|/idlelib/|/tkinter/|/turtledemo/|/lib2to3/"
# Left by mmdebstrap for the build, or provided by the runtime (names relative to the rootfs):
# these trees go whole, /dev keeps only its directory.
DROPPED_TREES = ("etc/apt", "var/cache/apt", "var/lib/apt", "var/log/apt")
DROPPED_FILES = ("etc/dpkg/dpkg.cfg.d/99mmdebstrap", "etc/hostname", "etc/resolv.conf")
TIMEOUT_SECONDS = 900


def rootfs_key() -> str:
    """The cache key: everything that decides what the layer holds, except the mirror's state."""
    recipe = {
        "builder": BUILDER_VERSION,
        "suite": DEBIAN_SUITE,
        "mirror": DEBIAN_MIRROR,
        "packages": sorted(PACKAGES),
        "excludes": list(PATH_EXCLUDES),
        "bytecode": BYTECODE_SKIP,
        "dropped": [*DROPPED_TREES, *DROPPED_FILES, "dev/*"],
        "platform": host_platform(),
    }
    return content_key(recipe)


def rootfs_layer(cache: Path, progress: Progress) -> tuple[Layer, dict[str, str], bool]:
    """The cached Debian layer (built on a miss), its package versions, and whether it was cached."""

    def build(scratch: Path) -> None:
        progress(f"building the Debian layer ({', '.join(PACKAGES)} from {DEBIAN_SUITE}) with mmdebstrap")
        started = time.monotonic()
        source, listing = scratch / "rootfs.tar", scratch / "packages.tsv"
        run_mmdebstrap(source, listing, scratch)
        layer = layer_from_tar(source, scratch / "layer.tar.gz")
        source.unlink()
        packages = parse_package_list(listing.read_text())
        meta = {"layer": layer.meta(), "packages": packages, "seconds": round(time.monotonic() - started, 2)}
        write_json(scratch / "meta.json", meta)

    entry, hit = cached_entry(cache, "rootfs", rootfs_key(), build)
    meta: dict[str, Any] = read_json(entry / "meta.json")
    return Layer.from_meta(meta["layer"], entry / "layer.tar.gz"), dict(meta["packages"]), hit


def mmdebstrap_command(dest: Path, listing: Path) -> list[str]:
    list_debs = (
        'for deb in "$1"/var/cache/apt/archives/*.deb; do dpkg-deb --show '
        "--showformat='${Package}\\t${Version}\\t${Architecture}\\n' \"$deb\"; done > " + shlex.quote(str(listing))
    )
    compile_stdlib = (
        'chroot "$1" /usr/bin/python3 -m compileall -q --invalidation-mode unchecked-hash '
        f"-x {shlex.quote(BYTECODE_SKIP)} /usr/lib"
    )
    return [
        "mmdebstrap",
        "--variant=extract",
        f"--include={','.join(PACKAGES)}",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in PATH_EXCLUDES),
        f"--extract-hook={list_debs}",
        f"--extract-hook={compile_stdlib}",
        DEBIAN_SUITE,
        str(dest),
        DEBIAN_MIRROR,
    ]


def run_mmdebstrap(dest: Path, listing: Path, scratch: Path) -> None:
    """Unpack the packages into the tar `dest`; their versions go to `listing` (TSV)."""
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "cannot build the stand-in image's Debian layer: mmdebstrap is not installed (apt-get install mmdebstrap)"
        )
    env = {**os.environ, "TMPDIR": str(scratch)}
    try:
        done = subprocess.run(
            mmdebstrap_command(dest, listing), env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"mmdebstrap did not build the stand-in image's Debian layer in {exc.timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("E:")] or lines[-1:] or ["(no output)"]
        raise ImageError(
            f"mmdebstrap could not build the stand-in image's Debian layer (exit {done.returncode}): {errors[-1]}",
            details=lines[-15:],
        )


def parse_package_list(text: str) -> dict[str, str]:
    """`package<TAB>version<TAB>arch` lines -> {package: version}, sorted by name."""
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return dict(sorted((row[0], row[1]) for row in rows if len(row) >= 2))


def _kept(name: str) -> bool:
    if name in DROPPED_FILES or name in DROPPED_TREES or name.startswith("dev/"):
        return False
    return not name.startswith(tuple(f"{tree}/" for tree in DROPPED_TREES))


def _opener(source: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        stream = source.extractfile(member)  # a hard link reads as its target's content
        if stream is None:
            raise ImageError(f"the Debian rootfs tar has no content for {member.name}")
        return stream

    return open_member


def _link_target(source: tarfile.TarFile, link: tarfile.TarInfo) -> tarfile.TarInfo:
    target = link.linkname.removeprefix("./")
    for member in source.getmembers():
        if member.name.removeprefix("./") == target:
            return member
    raise ImageError(f"the Debian rootfs tar links {link.name} to {link.linkname}, which it does not hold")


def _entries(source: tarfile.TarFile) -> Iterator[Entry]:
    for member in source.getmembers():
        name = member.name.removeprefix("./").strip("/")
        if name in ("", ".") or not _kept(name):
            continue
        mode = member.mode & 0o7777
        if member.isdir():
            yield dir_entry(name, mode)
        elif member.issym():
            yield Entry(name, tarfile.SYMTYPE, 0o777, linkname=member.linkname)
        elif member.isfile() or member.islnk():
            # Hard links become copies: entries are sorted, and a link must not come before its target.
            size = member.size if member.isfile() else _link_target(source, member).size
            yield Entry(name, tarfile.REGTYPE, mode, _opener(source, member), size)
        # device nodes and fifos: the runtime makes its own /dev


def layer_from_tar(source: Path, dest: Path) -> Layer:
    """Rewrite a rootfs tar as a deterministic layer (sorted, mtime EPOCH, owner 0:0)."""
    with tarfile.open(source) as tar:
        return write_layer(_entries(tar), dest)
