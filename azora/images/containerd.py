"""Importing images into a running containerd with `ctr`, in the `k8s.io` namespace that its CRI
plugin (and so the kubelet) reads.

One `ctr images ls` tells which names already point at the wanted manifest; only when one does
not is the archive imported (`ctr images import` creates and unpacks the archive's own name into
the snapshotter) and the missing names tagged onto it (`ctr images tag --force`: a name that
pointed at an older build moves). The CRI plugin follows image events in `k8s.io`, so a pod
can start from a tagged name at once; a name is looked up as written, hence plan.py gives the
fully qualified references (docker.io/library/... for a short name) that the CRI resolves.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from azora.images.build import BuiltImage
from azora.images.errors import ImageError

NAMESPACE = "k8s.io"
CONNECT_TIMEOUT = "10s"
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class ImportResult:
    """What `import_image` did for one image."""

    imported: bool  # the archive was imported (False: containerd had the manifest under its name)
    tagged: tuple[str, ...]  # the names tagged onto it (those that were missing or pointed elsewhere)
    seconds: float


def ctr_command(address: str, *args: str, namespace: str = NAMESPACE) -> list[str]:
    return ["ctr", "--address", address, "--connect-timeout", CONNECT_TIMEOUT, "--namespace", namespace, *args]


def _ctr(address: str, doing: str, *args: str) -> str:
    """Run ctr; `doing` says what for ("importing <image>"), to begin the error's one line."""
    if shutil.which("ctr") is None:
        raise ImageError(f"{doing}: ctr (containerd's client) is not installed (apt-get install containerd)")
    try:
        done = subprocess.run(ctr_command(address, *args), capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise ImageError(f"{doing} in containerd at {address} took over {TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        cause = lines[-1].removeprefix("ctr: ") if lines else f"ctr exited {done.returncode}"
        raise ImageError(f"{doing} in containerd at {address} failed: {cause}", details=lines[:-1][-10:])
    return done.stdout


def parse_image_list(output: str) -> dict[str, str]:
    """`ctr images ls` output -> {name: manifest digest}. Columns: REF TYPE DIGEST SIZE ...;
    a name has no spaces, so the first and third words are enough."""
    images: dict[str, str] = {}
    for line in output.splitlines()[1:]:
        words = line.split()
        if len(words) >= 3 and words[2].startswith("sha256:"):
            images[words[0]] = words[2]
    return images


def image_digests(address: str, purpose: str = "listing images") -> dict[str, str]:
    """The names containerd has in `k8s.io` and the manifest digest each points at."""
    return parse_image_list(_ctr(address, purpose, "images", "ls"))


def import_image(
    address: str, image: BuiltImage, refs: Sequence[str], *, snapshotter: str | None = None
) -> ImportResult:
    """Make `image.ref` and every name in `refs` point at the image's manifest in containerd."""
    started = time.monotonic()
    if address.startswith("/") and not Path(address).exists():  # else ctr waits CONNECT_TIMEOUT to say so
        raise ImageError(f"importing {image.ref}: there is no containerd socket at {address} (is the node running?)")
    have = image_digests(address, f"importing {image.ref}")
    wanted = sorted(set(refs) - {image.ref})
    imported = have.get(image.ref) != image.digest
    if imported:
        unpack = ["--snapshotter", snapshotter] if snapshotter else []
        _ctr(address, f"importing {image.ref} from {image.archive}", "images", "import", *unpack, str(image.archive))
    missing = [ref for ref in wanted if have.get(ref) != image.digest]
    if missing:
        _ctr(address, f"tagging {image.ref} as {', '.join(missing)}", "images", "tag", "--force", image.ref, *missing)
    return ImportResult(imported, tuple(missing), time.monotonic() - started)
