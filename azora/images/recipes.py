"""What each image's Debian layer holds: one recipe per image, data that rootfs.py turns into a
layer with mmdebstrap `--variant=extract` (packages with their Depends, no maintainer scripts).

A recipe names the packages, the dpkg path filters applied while they are unpacked (excludes,
then includes that take paths back), whether the image's Python is byte-compiled, the files
dropped from the layer, and what is checked before the layer is written: the files the image
cannot run without and, for a recipe that keeps paths by pattern, that every symbolic link
leads somewhere in the layer (the stand-in's cannot: /etc/rmt points at an alternative that a
skipped maintainer script would have made, harmless there).

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

PROMETHEUS (prometheus 2.42.0+ds-5+deb12u1). Its Depends pull 52 packages, 423 MB unpacked
(adduser, passwd and PAM, perl, dpkg, and JavaScript libraries for the web UI, 214 MB of them
moment-timezone's data). What runs needs far less, found with ldd, strings, strace and the web
UI's templates: the binary (50 MB, cgo: only libc.so.6 and the loader), the classic web UI that
Debian's build serves from /usr/share/prometheus/web (its templates load 28 static files, some
through symbolic links into /usr/share/javascript, /usr/share/nodejs and the glyphicons font)
and /etc/prometheus (the default prometheus.yml; consoles are only READMEs in Debian). So the
recipe excludes every path and includes those back: 60 MB unpacked, and every asset the
templates name answers 200. The runtime provides /etc/hosts and resolv.conf; there are no CA
certificates (in-cluster scrapes are plain HTTP), no tzdata (Prometheus works in UTC) and no
/etc/passwd (the image's user is numeric).
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
    path_includes: tuple[str, ...] = ()  # dpkg --path-include globs, after the excludes: taken back
    bytecode_skip: str | None = None  # byte-compile /usr/lib's Python, skipping paths this matches
    dropped_trees: tuple[str, ...] = SETUP_TREES  # removed from the layer with what they hold
    dropped_files: tuple[str, ...] = SETUP_FILES
    required: tuple[str, ...] = ()  # files the layer must hold (links followed), or the build fails
    check_links: bool = False  # every symbolic link must lead to something in the layer


STANDIN = Recipe(
    image="the stand-in image",
    packages=("python3", "python3-prometheus-client"),
    path_excludes=(*DOCS, "/usr/lib/*/gconv/*"),  # glibc's iconv modules (8 MB): Python has its own codecs
    # Not compiled: tests and GUI or teaching modules a server never imports.
    bytecode_skip=r"/test/|/tests/|/idlelib/|/tkinter/|/turtledemo/|/lib2to3/",
    required=("usr/bin/python3",),
)

# The web UI's libraries, as the symbolic links in /usr/share/prometheus/web/static name them.
_WEB_LIBRARIES = (
    "bootstrap4",
    "d3",
    "eonasdan-bootstrap-datetimepicker",
    "jquery",
    "jquery-hotkeys",
    "moment",
    "mustache",
    "rickshaw",
)
PROMETHEUS = Recipe(
    image="the Prometheus image",
    packages=("prometheus",),
    path_excludes=("/*",),
    path_includes=(
        "/usr/bin/prometheus",
        "/lib/*/libc.so.6",
        "/lib*/ld-linux*",  # the loader and its /lib64 (or /lib) link
        "/etc/prometheus/*",
        "/usr/share/prometheus/*",
        *(f"/usr/share/javascript/{library}/*" for library in _WEB_LIBRARIES),
        "/usr/share/javascript/moment-timezone/moment-timezone-with-data.min.js",  # of 214 MB
        "/usr/share/javascript/popper.js",  # a link into /usr/share/nodejs
        "/usr/share/nodejs/bootstrap/dist/*",
        "/usr/share/nodejs/popper.js/dist/*",
        "/usr/share/fonts-glyphicons/*",
        "/usr/share/fonts/truetype/glyphicons/*",
    ),
    required=(
        "usr/bin/prometheus",
        "etc/prometheus/prometheus.yml",
        "usr/share/prometheus/web/templates/_base.html",
        "usr/share/prometheus/web/static/jquery/jquery.min.js",
        "usr/share/prometheus/web/static/moment-timezone/moment-timezone-with-data.min.js",
    ),
    check_links=True,
)
