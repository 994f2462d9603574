"""What an image made of one Go binary checks about that binary before it builds: that it is a
static ELF executable (the image has no loader, so a dynamically linked one would fail to start
as "no such file"), and what the Go linker recorded in it, as `go version -m` shows it: the
modules it was built from and its build settings (`-tags`, CGO_ENABLED). Read from the file's
bytes, never by running it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER = 32  # the magic, the pointer size, the flags, padding
_INLINE_STRINGS = 0x2  # Go 1.18 and later: the version and module strings follow the header
_FRAME = 16  # the sentinel bytes around the module text


@dataclass(frozen=True)
class GoBuildInfo:
    """The build info a Go binary carries (`go version -m`)."""

    go: str  # the Go release that built it: "go1.26.8"
    modules: dict[str, str]  # the main module and every dependency -> its version
    settings: dict[str, str]  # `build` lines: "-tags" -> "remove_all_sd,enable_kubernetes_sd", ...

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(tag for tag in self.settings.get("-tags", "").split(",") if tag)


def static_binary_problem(binary: bytes) -> str | None:
    """Why this file cannot be an image's only executable (None if it can): it must be ELF and
    have no PT_INTERP, i.e. need no loader."""
    if binary[:4] != b"\x7fELF" or len(binary) < 6 or binary[4] not in (1, 2) or binary[5] not in (1, 2):
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


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    """A little-endian base-128 number at `at`, and where it ends (encoding/binary's Uvarint)."""
    value = shift = 0
    while True:
        byte = data[at]
        value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
        if byte < 0x80:
            return value, at


def _inline_strings(binary: bytes, at: int) -> tuple[str, str] | None:
    """The Go version and the module text after the header at `at`, or None if it is not one."""
    if len(binary) < at + _HEADER or not binary[at + 15] & _INLINE_STRINGS:
        return None
    try:
        size, start = _uvarint(binary, at + _HEADER)
        version = binary[start : start + size].decode()
        size, start = _uvarint(binary, start + size)
        modules = binary[start : start + size]
    except (IndexError, UnicodeDecodeError):
        return None
    if len(modules) >= 2 * _FRAME + 1 and modules[-_FRAME - 1 : -_FRAME] == b"\n":
        modules = modules[_FRAME:-_FRAME]
    return version, modules.decode(errors="replace")


def go_build_info(binary: bytes) -> GoBuildInfo | None:
    """The build info of a Go binary, or None if it carries none that Go 1.18 or later wrote. A
    `=>` replacement line is not applied: a module keeps the version it was required at."""
    at = binary.find(GO_BUILDINFO_MAGIC)
    while at >= 0:
        found = _inline_strings(binary, at)
        if found is not None:
            version, text = found
            modules: dict[str, str] = {}
            settings: dict[str, str] = {}
            for line in text.splitlines():
                words = line.split("\t")
                if words[0] in ("mod", "dep") and len(words) >= 3:
                    modules[words[1]] = words[2]
                elif words[0] == "build" and len(words) >= 2:
                    key, _, value = words[1].partition("=")
                    settings[key] = value
            return GoBuildInfo(version, modules, settings)
        at = binary.find(GO_BUILDINFO_MAGIC, at + 1)
    return None
