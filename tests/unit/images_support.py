"""What the image tests share: fake rootfs tars, readers for the OCI archives and layers that
azora.images writes (checking every digest and size on the way), a minimal ELF header, a Go
binary's build info, and a fake ctr that logs its arguments."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
from pathlib import Path
from typing import Any

from pytest import MonkeyPatch


def tar_member(name: str, data: bytes = b"", **fields: Any) -> tuple[tarfile.TarInfo, bytes]:
    """A member for a fake rootfs tar (mtime and uid as a real one would have them)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.uid = len(data), 1_700_000_000, fields.pop("uid", 0)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def write_tar(dest: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(dest, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def archive_files(path: Path) -> dict[str, bytes]:
    """The regular files of an archive, by name."""
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}  # type: ignore[union-attr]


def layer_members(blob: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        return {m.name: m for m in tar.getmembers()}


def image_documents(files: dict[str, bytes]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """index entry, manifest and config of a one-image archive, checking every digest and size."""

    def blob(descriptor: dict[str, Any]) -> bytes:
        data = files[f"blobs/sha256/{descriptor['digest'][7:]}"]
        assert (len(data), "sha256:" + hashlib.sha256(data).hexdigest()) == (descriptor["size"], descriptor["digest"])
        return data

    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    manifest = json.loads(blob(entry))
    config = json.loads(blob(manifest["config"]))
    layers = [blob(layer) for layer in manifest["layers"]]
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest() for layer in layers]
    assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
    assert {entry["platform"]["architecture"], config["os"]} == {config["architecture"], "linux"}
    return entry, manifest, config


def image_layers(files: dict[str, bytes], manifest: dict[str, Any]) -> list[dict[str, tarfile.TarInfo]]:
    """The members of each layer of the manifest, in order."""
    return [layer_members(files[f"blobs/sha256/{layer['digest'][7:]}"]) for layer in manifest["layers"]]


def elf(program_header_types: list[int]) -> bytes:
    """An ELF64 header with program headers of these types (3 is PT_INTERP: dynamically linked)."""
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, len(program_header_types), 0, 0, 0)
    return header + b"".join(struct.pack("<II", kind, 0) + bytes(48) for kind in program_header_types)


def _uvarint(value: int) -> bytes:
    out = b""
    while value > 0x7F:
        out, value = out + bytes([value & 0x7F | 0x80]), value >> 7
    return out + bytes([value])


MODINFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")  # the Go linker's sentinels
MODINFO_END = bytes.fromhex("f932433186182072008242104116d8f2")


def go_buildinfo(lines: list[str], go: str = "go1.26.8") -> bytes:
    """The build info section the Go linker writes (Go 1.18 and later, strings inline): the
    header, the Go version and the module text (`path`, `mod`, `dep`, `build` lines) framed by
    its sentinels."""
    text = MODINFO_START + "".join(f"{line}\n" for line in lines).encode() + MODINFO_END
    header = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    return header + _uvarint(len(go)) + go.encode() + _uvarint(len(text)) + text


PROMETHEUS_BUILD = [
    "path\tgithub.com/prometheus/prometheus/cmd/prometheus",
    "mod\tgithub.com/prometheus/prometheus\tv0.316.0\th1:f1GRFerhTMKQma+awCoC9T820ecWeGSdF+xAlMHzZzM=",
    "dep\tgithub.com/alecthomas/kingpin/v2\tv2.4.0\th1:f48lwail6p8zpO1bC4TxtqACaGqHYA22qkHjHpqDjYY=",
    "build\t-tags=remove_all_sd,enable_kubernetes_sd",
    "build\tCGO_ENABLED=0",
]


def go_binary(lines: list[str] = PROMETHEUS_BUILD, program_header_types: tuple[int, ...] = (1, 1)) -> bytes:
    """A static ELF64 executable carrying this Go build info (by default: Prometheus 3.16.0 as
    `go install -tags remove_all_sd,enable_kubernetes_sd` builds it), padded as the linker aligns it."""
    head = elf(list(program_header_types))
    return head + bytes(-len(head) % 16) + go_buildinfo(lines) + b"\x00" * 16


FAKE_CTR = """#!/bin/sh
echo "$@" >> "{log}"
case "$*" in *"images ls"*) cat "{listing}" ;; esac
case "$*" in *"{fail}"*) echo "ctr: failed to dial: connection refused" >&2; exit 1 ;; esac
"""


def fake_ctr(tmp_path: Path, monkeypatch: MonkeyPatch, have: dict[str, str], fail: str = "__no_call_fails__") -> Path:
    """A ctr that logs its arguments and lists `have`; its socket is tmp_path/c.sock."""
    log, listing = tmp_path / "ctr.log", tmp_path / "ls.txt"
    rows = [f"{ref} application/vnd.oci.image.manifest.v1+json {d} 20.7 MiB linux/amd64 -" for ref, d in have.items()]
    listing.write_text("\n".join(["REF TYPE DIGEST SIZE PLATFORMS LABELS", *rows]) + "\n")
    ctr = tmp_path / "bin" / "ctr"
    ctr.parent.mkdir()
    ctr.write_text(FAKE_CTR.format(log=log, listing=listing, fail=fail))
    ctr.chmod(0o755)
    monkeypatch.setenv("PATH", f"{ctr.parent}:/usr/bin:/bin")
    (tmp_path / "c.sock").touch()
    log.touch()
    return log


def ctr_calls(log: Path) -> list[str]:
    """The ctr calls logged, from the subcommand on."""
    return [call.split(" k8s.io ")[1] for call in log.read_text().splitlines()]
