"""The content-keyed image cache: `~/.cache/azora/images/` (or $AZORA_IMAGE_CACHE, see cache_root).

Every entry is a directory named by a key that hashes everything its content depends on, so an
entry never goes stale: changed inputs make a new key. An entry is built in a temporary sibling
directory and renamed into place, so a reader sees a whole entry or none; an flock per key makes
two concurrent builds of the same entry build it once (the second waits and takes the first's).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CACHE_ENV = "AZORA_IMAGE_CACHE"


def cache_root() -> Path:
    """Where built layers and image archives are kept: $AZORA_IMAGE_CACHE, else `images/` in
    azora's cache root, the toolchain's (azora.toolchain.paths.cache_root, not imported for this:
    azora.toolchain takes 90 ms to import)."""
    env = os.environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    if env.get("AZORA_CACHE_DIR"):
        return Path(env["AZORA_CACHE_DIR"]).expanduser() / "images"
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "azora" / "images"
    return Path.home() / ".cache" / "azora" / "images"


def content_key(parts: Any) -> str:
    """A short, stable hash of JSON-able inputs (the name of a cache entry)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@contextmanager
def locked(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on `name` within the cache (blocks while another process holds it)."""
    locks = root / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_entry(root: Path, kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The entry `kind/key`, built by `build(scratch_dir)` if it is missing; and whether it was there."""
    final = root / kind / key
    if final.is_dir():
        return final, True
    final.parent.mkdir(parents=True, exist_ok=True)
    with locked(root, f"{kind}-{key}"):
        if final.is_dir():  # another process built it while this one waited
            return final, True
        scratch = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            build(scratch)
            scratch.rename(final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return final, False


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
