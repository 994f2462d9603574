"""OCI images written with the standard library: deterministic layers, an image config, a
manifest, and the image-layout tar archive that `ctr images import` reads.

Why no library: PyPI has none that fits. `opencontainers` holds the spec's structs but writes no
layout (a 0.0.x release), `oras` pushes to registries, `pyoci` is an experimental builder of
Python-project images; none writes a reproducible layer from another tar. The format is small
(content-addressed blobs, three JSON documents and `oci-layout`), so tarfile, gzip, hashlib and
json do it in the lines below, with no dependency to keep.

Determinism: entries are sorted by name, every mtime is EPOCH, owners are numeric without names
(0:0 unless an entry says otherwise), gzip carries no name or time. The same inputs give the same
digests, so a digest can be compared with what containerd already has.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"  # the full name `ctr images import` gives the image
EPOCH = 0
# Level 1: 0.8 s against the default's 2.1 s for the Debian layer, 10% larger; it never leaves the machine.
GZIP_LEVEL = 1
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le"}
_MACHINES.update({"s390x": "s390x", "riscv64": "riscv64", "i686": "386", "i386": "386"})


@dataclass(frozen=True)
class Entry:
    """One entry of a layer: a regular file, a directory or a symbolic link."""

    name: str  # relative, no leading "/" or "./"
    kind: bytes = tarfile.REGTYPE
    mode: int = 0o644
    data: bytes | Callable[[], IO[bytes]] = b""  # bytes, or an opener for a stream of `size` bytes
    size: int | None = None  # needed only with an opener
    linkname: str = ""
    owner: tuple[int, int] = (0, 0)  # uid, gid (numeric: the layer carries no user names)


def file_entry(name: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(name, tarfile.REGTYPE, mode, data)


def dir_entry(name: str, mode: int = 0o755, owner: tuple[int, int] = (0, 0)) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode, owner=owner)


def blob_entry(name: str, path: Path) -> Entry:
    return Entry(name, tarfile.REGTYPE, 0o644, lambda: open(path, "rb"), path.stat().st_size)


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob in the cache and the digests that name it."""

    digest: str  # sha256:<hex> of the gzip blob (the manifest's)
    size: int
    diff_id: str  # sha256:<hex> of the uncompressed tar (the config's rootfs.diff_ids)
    path: Path

    def meta(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "diff_id": self.diff_id}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], path: Path) -> Layer:
        return cls(meta["digest"], int(meta["size"]), meta["diff_id"], path)


class _Hashing:
    """A write-only stream that hashes and counts what passes through it to `sink`."""

    def __init__(self, sink: IO[bytes] | gzip.GzipFile) -> None:
        self.sink, self.sha, self.size = sink, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        self.sink.flush()

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha.hexdigest()}"


def _write_entries(stream: Any, entries: Iterable[Entry]) -> None:
    ordered = sorted(entries, key=lambda entry: entry.name)
    names = [entry.name for entry in ordered]
    duplicates = sorted({name for name, following in zip(names, names[1:], strict=False) if name == following})
    if duplicates:
        raise ValueError(f"duplicate layer entries: {', '.join(duplicates)}")
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in ordered:
            info = tarfile.TarInfo(entry.name)
            info.type, info.mode, info.mtime, info.linkname = entry.kind, entry.mode, EPOCH, entry.linkname
            info.uid, info.gid = entry.owner
            info.uname = info.gname = ""
            if entry.kind != tarfile.REGTYPE:
                tar.addfile(info)
            elif isinstance(entry.data, bytes):
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                info.size = entry.size or 0
                with entry.data() as source:
                    tar.addfile(info, source)


def write_layer(entries: Iterable[Entry], dest: Path) -> Layer:
    """Write a deterministic gzip layer to `dest` and return its digests."""
    with open(dest, "wb") as raw:
        blob = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=EPOCH, compresslevel=GZIP_LEVEL) as gz:
            plain = _Hashing(gz)
            _write_entries(plain, entries)
    return Layer(blob.digest, blob.size, plain.digest, dest)


def canonical(document: Any) -> bytes:
    """JSON with sorted keys and no spaces: the same document, the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def host_platform() -> dict[str, str]:
    """The OCI platform of this machine (architecture in Go's names, as containerd matches them)."""
    machine = platform.machine().lower()
    if machine.startswith("armv"):
        return {"architecture": "arm", "os": "linux", "variant": machine[3:5]}
    return {"architecture": _MACHINES.get(machine, machine), "os": "linux"}


@dataclass(frozen=True)
class RunConfig:
    """What the image runs: the `config` part of an OCI image config."""

    entrypoint: Sequence[str]
    cmd: Sequence[str] = ()  # default arguments: what a pod's `args` replace
    env: Sequence[str] = ()
    user: str = ""
    workdir: str = "/"
    labels: tuple[tuple[str, str], ...] = ()


def image_config(layers: Sequence[Layer], run: RunConfig, platform_: dict[str, str] | None = None) -> bytes:
    config: dict[str, Any] = {"Entrypoint": list(run.entrypoint), "Env": list(run.env), "WorkingDir": run.workdir}
    if run.cmd:
        config["Cmd"] = list(run.cmd)
    if run.user:
        config["User"] = run.user
    if run.labels:
        config["Labels"] = dict(run.labels)
    return canonical(
        {
            **(platform_ or host_platform()),
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        }
    )


def _descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def image_manifest(config: bytes, layers: Sequence[Layer]) -> bytes:
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": _descriptor(MEDIA_CONFIG, digest_of(config), len(config)),
            "layers": [_descriptor(MEDIA_LAYER, layer.digest, layer.size) for layer in layers],
        }
    )


def write_archive(dest: Path, ref: str, manifest: bytes, config: bytes, layers: Sequence[Layer]) -> None:
    """An OCI image-layout tar at `dest` holding one image, named `ref` for containerd."""
    platform_ = {key: value for key, value in json.loads(config).items() if key in ("architecture", "os", "variant")}
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                **_descriptor(MEDIA_MANIFEST, digest_of(manifest), len(manifest)),
                "platform": platform_,
                "annotations": {CONTAINERD_NAME: ref, REF_NAME: tag},
            }
        ],
    }
    blobs = {layer.digest: blob_entry(f"blobs/sha256/{layer.digest[7:]}", layer.path) for layer in layers}
    for document in (manifest, config):
        blobs[digest_of(document)] = file_entry(f"blobs/sha256/{digest_of(document)[7:]}", document)
    entries = [dir_entry("blobs"), dir_entry("blobs/sha256"), *blobs.values()]
    entries += [file_entry("index.json", canonical(index)), file_entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')]
    with open(dest, "wb") as out:
        _write_entries(out, entries)
