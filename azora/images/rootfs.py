"""A Debian layer from a recipe (recipes.py): the packages unpacked by mmdebstrap
`--variant=extract`, rewritten as a deterministic layer and cached by the recipe.

The layer drops what mmdebstrap leaves for its own use (apt's sources and lists, /dev nodes,
the build host's resolv.conf and hostname): the runtime provides /dev and the network files.
Before the layer is written, the recipe's required files must be in it, symbolic links followed
as the kernel would inside the image. The package versions come from the downloaded .debs (an
extract-hook), recorded in the cache entry's meta.json, since extract installs nothing into
dpkg's status file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from azora.images.cache import cached_entry, content_key, read_json, write_json
from azora.images.errors import ImageError
from azora.images.oci import Entry, Layer, dir_entry, host_platform, write_layer
from azora.images.recipes import DEBIAN_MIRROR, DEBIAN_SUITE, Recipe

Progress = Callable[[str], None]

BUILDER_VERSION = 1  # bump when this module changes what a layer holds for the same recipe
TIMEOUT_SECONDS = 900
LINK_DEPTH = 40  # links followed in one lookup, as the kernel's limit (ELOOP)


def rootfs_key(recipe: Recipe) -> str:
    """The cache key: everything that decides what the layer holds, except the mirror's state.
    A field the recipe leaves unset stays out, so a new field does not move existing entries."""
    parts: dict[str, object] = {
        "builder": BUILDER_VERSION,
        "suite": DEBIAN_SUITE,
        "mirror": DEBIAN_MIRROR,
        "packages": sorted(recipe.packages),
        "excludes": list(recipe.path_excludes),
        "dropped": [*recipe.dropped_trees, *recipe.dropped_files, "dev/*"],
        "platform": host_platform(),
    }
    if recipe.bytecode_skip is not None:
        parts["bytecode"] = recipe.bytecode_skip
    return content_key(parts)


def rootfs_layer(recipe: Recipe, cache: Path, progress: Progress) -> tuple[Layer, dict[str, str], bool]:
    """The cached Debian layer (built on a miss), its package versions, and whether it was cached."""

    def build(scratch: Path) -> None:
        progress(f"building the Debian layer ({', '.join(recipe.packages)} from {DEBIAN_SUITE}) with mmdebstrap")
        started = time.monotonic()
        source, listing = scratch / "rootfs.tar", scratch / "packages.tsv"
        run_mmdebstrap(recipe, source, listing, scratch)
        layer = layer_from_tar(source, scratch / "layer.tar.gz", recipe)
        source.unlink()
        packages = parse_package_list(listing.read_text())
        meta = {"layer": layer.meta(), "packages": packages, "seconds": round(time.monotonic() - started, 2)}
        write_json(scratch / "meta.json", meta)

    entry, hit = cached_entry(cache, "rootfs", rootfs_key(recipe), build)
    meta: dict[str, Any] = read_json(entry / "meta.json")
    return Layer.from_meta(meta["layer"], entry / "layer.tar.gz"), dict(meta["packages"]), hit


def extract_hooks(recipe: Recipe, listing: Path) -> list[str]:
    """Shell run by mmdebstrap once the packages are unpacked, with the rootfs as "$1"."""
    list_debs = (
        'for deb in "$1"/var/cache/apt/archives/*.deb; do dpkg-deb --show '
        "--showformat='${Package}\\t${Version}\\t${Architecture}\\n' \"$deb\"; done > " + shlex.quote(str(listing))
    )
    hooks = [list_debs]
    if recipe.bytecode_skip is not None:
        hooks.append(
            'chroot "$1" /usr/bin/python3 -m compileall -q --invalidation-mode unchecked-hash '
            f"-x {shlex.quote(recipe.bytecode_skip)} /usr/lib"
        )
    return hooks


def mmdebstrap_command(recipe: Recipe, dest: Path, listing: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--variant=extract",
        f"--include={','.join(recipe.packages)}",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in recipe.path_excludes),
        *(f"--extract-hook={hook}" for hook in extract_hooks(recipe, listing)),
        DEBIAN_SUITE,
        str(dest),
        DEBIAN_MIRROR,
    ]


def run_mmdebstrap(recipe: Recipe, dest: Path, listing: Path, scratch: Path) -> None:
    """Unpack the recipe's packages into the tar `dest`; their versions go to `listing` (TSV)."""
    what = f"{recipe.image}'s Debian layer"
    if shutil.which("mmdebstrap") is None:
        raise ImageError(f"cannot build {what}: mmdebstrap is not installed (apt-get install mmdebstrap)")
    env = {**os.environ, "TMPDIR": str(scratch)}
    try:
        done = subprocess.run(
            mmdebstrap_command(recipe, dest, listing), env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"mmdebstrap did not build {what} in {exc.timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("E:")] or lines[-1:] or ["(no output)"]
        raise ImageError(
            f"mmdebstrap could not build {what} (exit {done.returncode}): {errors[-1]}", details=lines[-15:]
        )


def parse_package_list(text: str) -> dict[str, str]:
    """`package<TAB>version<TAB>arch` lines -> {package: version}, sorted by name."""
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return dict(sorted((row[0], row[1]) for row in rows if len(row) >= 2))


def _kept(recipe: Recipe, name: str) -> bool:
    if name in recipe.dropped_files or name in recipe.dropped_trees or name.startswith("dev/"):
        return False
    return not name.startswith(tuple(f"{tree}/" for tree in recipe.dropped_trees))


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


def _entries(source: tarfile.TarFile, recipe: Recipe) -> Iterator[Entry]:
    for member in source.getmembers():
        name = member.name.removeprefix("./").strip("/")
        if name in ("", ".") or not _kept(recipe, name):
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


def resolve(entries: Mapping[str, Entry], path: str) -> Entry | None:
    """What `path` names inside the layer, every link on the way followed as the kernel would
    in a container whose root is the layer; None if it leads nowhere (or loops)."""
    budget = LINK_DEPTH

    def walk(parts: list[str], start: list[str]) -> list[str] | None:
        nonlocal budget
        current = list(start)
        for part in parts:
            if part in ("", "."):
                continue
            if part == "..":
                current = current[:-1]
                continue
            entry = entries.get("/".join([*current, part]))
            if entry is None:
                return None
            if entry.kind != tarfile.SYMTYPE:
                current.append(part)
                continue
            budget -= 1
            if budget < 0:
                return None
            target = walk(entry.linkname.split("/"), [] if entry.linkname.startswith("/") else current)
            if target is None:
                return None
            current = target
        return current

    found = walk(path.split("/"), [])
    if found is None:
        return None
    return entries.get("/".join(found)) if found else dir_entry("")


def layer_problems(entries: Sequence[Entry], recipe: Recipe) -> list[str]:
    """The required files the layer lacks (or holds as something other than a file)."""
    by_name = {entry.name: entry for entry in entries}
    problems: list[str] = []
    for name in recipe.required:
        found = resolve(by_name, name)
        if found is None or found.kind != tarfile.REGTYPE:
            problems.append(f"{name} is missing (a file {recipe.image} needs)")
    return problems


def layer_from_tar(source: Path, dest: Path, recipe: Recipe) -> Layer:
    """Rewrite a rootfs tar as a deterministic layer (sorted, mtime EPOCH, owner 0:0), after
    checking it (layer_problems)."""
    with tarfile.open(source) as tar:
        entries = list(_entries(tar, recipe))
        problems = layer_problems(entries, recipe)
        if problems:
            head = problems[0] if len(problems) == 1 else f"{len(problems)} problems"
            raise ImageError(f"the Debian layer of {recipe.image} is incomplete: {head}", details=problems[:20])
        return write_layer(entries, dest)
