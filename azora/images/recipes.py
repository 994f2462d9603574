"""What the stand-in's Debian layer holds: a recipe, data that rootfs.py turns into a layer with
mmdebstrap `--variant=extract` (packages with their Depends, no maintainer scripts).

A recipe names the packages, the dpkg paths excluded while they are unpacked, whether the
image's Python is byte-compiled, the files dropped from the layer, and the files the image cannot
run without, checked before the layer is written. (The Prometheus image has no Debian layer: it
is the toolchain's static binary, build.py; Debian's prometheus has no Kubernetes discovery.)

STANDIN (python3, python3-prometheus-client). Why `extract`: the stand-in needs an interpreter,
the standard library and one module, not a system. Measured here (bookworm, amd64, 2 busy
cores), with the excludes below: `extract` downloads the two packages with their dependencies
(43 packages) and unpacks them: 10 to 16 s for the whole layer, 53 MB (22 MB gzip);
`essential` adds the Essential:yes set (bash, coreutils, perl-base, ...) and runs every
maintainer script: 22 s for mmdebstrap alone, 138 MB (49 MB gzip); `custom` needs dpkg inside
to configure packages. Of what the skipped maintainer scripts do, the image needs only
byte-compiling (no users, alternatives or services): a hook compiles /usr/lib's Python in the
chroot with the image's own python3 (unchecked-hash .pyc files, valid whatever the layer's
mtimes), which takes a pod's interpreter start from 0.35 s to 0.09 s. ca-certificates is left
out: the stand-in makes no TLS connections.
"""

from __future__ import annotations

from dataclasses import dataclass

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DOCS = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/locale/*",
    "/usr/share/info/*",
    "/usr/share/lintian/*",
)
# Left by mmdebstrap for the build, or provided by the runtime (names relative to the rootfs):
# these trees go whole, /dev keeps only its directory.
SETUP_TREES = ("etc/apt", "var/cache/apt", "var/lib/apt", "var/log/apt")
SETUP_FILES = ("etc/dpkg/dpkg.cfg.d/99mmdebstrap", "etc/hostname", "etc/resolv.conf")


@dataclass(frozen=True)
class Recipe:
    """One Debian layer: what mmdebstrap unpacks and what the layer keeps of it."""

    image: str  # the image it is for, as messages name it: "the stand-in image"
    packages: tuple[str, ...]  # with their Depends, as apt resolves them
    path_excludes: tuple[str, ...]  # dpkg --path-exclude globs ('*' matches '/' too)
    bytecode_skip: str | None = None  # byte-compile /usr/lib's Python, skipping paths this matches
    dropped_trees: tuple[str, ...] = SETUP_TREES  # removed from the layer with what they hold
    dropped_files: tuple[str, ...] = SETUP_FILES
    required: tuple[str, ...] = ()  # files the layer must hold (links followed), or the build fails


STANDIN = Recipe(
    image="the stand-in image",
    packages=("python3", "python3-prometheus-client"),
    path_excludes=(*DOCS, "/usr/lib/*/gconv/*"),  # glibc's iconv modules (8 MB): Python has its own codecs
    # Not compiled: tests and GUI or teaching modules a server never imports.
    bytecode_skip=r"/test/|/tests/|/idlelib/|/tkinter/|/turtledemo/|/lib2to3/",
    required=("usr/bin/python3",),
)
