"""Where the toolchain's sources and caches live.

Sources (pins, local Go modules, committed go.sum files) are under ``toolchain/`` in
the repository; everything built goes to a versioned cache outside it::

    $AZORA_CACHE_DIR | $XDG_CACHE_HOME/azora | ~/.cache/azora
      toolchain/<tag>/...    the Pulumi toolchain (see ``azora.toolchain``)
      tools/...              single tools such as actionlint (see ``azora.actionlint``)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azora.toolchain.pins import Pins

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN_SRC = REPO_ROOT / "toolchain"
PINS_FILE = TOOLCHAIN_SRC / "pins.toml"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Root of azora's caches: $AZORA_CACHE_DIR, else $XDG_CACHE_HOME/azora, else
    ~/.cache/azora."""
    env = os.environ if env is None else env
    if env.get("AZORA_CACHE_DIR"):
        return Path(env["AZORA_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "azora"
    return Path.home() / ".cache" / "azora"


def toolchain_dir(pins: Pins, env: Mapping[str, str] | None = None) -> Path:
    """``<cache root>/toolchain/<tag>`` for these pins."""
    return cache_root(env) / "toolchain" / pins.tag()


CHECKOV_PINS = REPO_ROOT / "tests" / "integration" / "checkov-requirements.txt"


def checkov_dir(env: Mapping[str, str] | None = None, pins: Path = CHECKOV_PINS) -> Path:
    """``<cache root>/checkov/<first 12 hex of the pins' sha256>``: the virtualenv `make checkov`
    makes for the pinned checkov. Outside the checkout, so a fresh clone reuses it; a new pin
    gets a new directory. The Makefile computes the same path with sha256sum."""
    return cache_root(env) / "checkov" / hashlib.sha256(pins.read_bytes()).hexdigest()[:12]
