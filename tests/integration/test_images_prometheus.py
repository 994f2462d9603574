"""The Prometheus image's layers, unpacked into a directory as a runtime would stack them, run
Debian's binary under chroot as the image's user: the binary, the loader and libc are all it
needs to start. Built with mmdebstrap into the image cache (only the first run downloads)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from azora.images.build import BuiltImage, build_prometheus_image


def _missing() -> str | None:
    if shutil.which("mmdebstrap") is None:
        return "needs mmdebstrap (apt-get install mmdebstrap)"
    if os.geteuid() != 0:
        return "needs root: chroot"
    return None


pytestmark = [pytest.mark.integration, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build_prometheus_image()


@pytest.fixture(scope="module")
def unpacked(image: BuiltImage) -> Iterator[Path]:
    """The image's layers, in the manifest's order, unpacked into one directory."""
    work = Path(tempfile.mkdtemp(prefix="azprom-", dir="/tmp"))
    try:
        with tarfile.open(image.archive) as archive:
            archive.extractall(work / "archive", filter="data")
        index = json.loads((work / "archive" / "index.json").read_text())
        manifest_digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.loads((work / "archive" / "blobs" / "sha256" / manifest_digest).read_text())
        root = work / "rootfs"
        root.mkdir()
        for layer in manifest["layers"]:
            blob = work / "archive" / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
            subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xzpf", str(blob)], check=True)
        yield root
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_unpacked_image_runs_prometheus_version_as_nobody(unpacked: Path) -> None:
    done = subprocess.run(
        ["chroot", "--userspec=65534:65534", str(unpacked), "/usr/bin/prometheus", "--version"],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = (done.stdout or done.stderr).splitlines()[0]
    assert first.startswith("prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-")
    assert (unpacked / "prometheus").stat().st_uid == 65534


def test_the_image_holds_what_prometheus_needs_and_little_else(unpacked: Path, image: BuiltImage) -> None:
    names = {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_symlink() or p.is_file()}
    outside_share = {name for name in names if not name.startswith("usr/share/")}
    libraries = {name for name in outside_share if name.startswith("lib")}
    assert outside_share - libraries == {
        "usr/bin/prometheus",
        "etc/prometheus/prometheus.yml",
        "etc/prometheus/consoles/README.consoles",  # Debian ships no console templates
        "etc/prometheus/console_libraries/README.consoles",
        "etc/fstab",  # mmdebstrap's, empty; and dpkg's database, which extract leaves empty
        "var/lib/dpkg/arch",
        "var/lib/dpkg/status",
    }
    # libc, the loader, and the loader's link where the binary's PT_INTERP names it (/lib64 on amd64)
    assert len(libraries) == 3 and {Path(name).name.split(".so")[0].split("-")[0] for name in libraries} == {
        "libc",
        "ld",
    }
    shared = {name.split("/")[2] for name in names - outside_share}
    assert shared == {"prometheus", "javascript", "nodejs", "fonts-glyphicons", "fonts"}
    assert (unpacked / "usr/share/prometheus/web/static/jquery/jquery.min.js").is_file()  # through its link
    size = sum((unpacked / name).stat().st_size for name in names if not (unpacked / name).is_symlink())
    assert 50 * 2**20 < size < 70 * 2**20  # the binary is 48 MiB of it
    assert image.size < 25 * 2**20
