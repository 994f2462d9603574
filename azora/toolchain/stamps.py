"""Build stamps: what was built, from what, in how long, and whether it is still good.

Each piece leaves ``<toolchain dir>/stamps/<piece>.json`` after a successful build,
with a fingerprint of everything azora controls about it (its description, the
build recipe, the sources of local modules). A piece is fresh while the fingerprint
matches and its outputs are still there; checking that reads files only, so a cache
hit never runs Go.

Outputs go to ``bin/`` (put on PATH) except provider plugins, which go to
``plugins/`` (see ``output_path``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

from azora.toolchain.catalog import Piece
from azora.toolchain.paths import TOOLCHAIN_SRC

#: Bump when the build procedure itself changes, so every stamp goes stale.
BUILD_RECIPE = "1"


def fingerprint(piece: Piece) -> str:
    """Hash of everything a piece's build depends on that azora controls: its
    description, the build recipe and, for local modules, their source files."""
    digest = hashlib.sha256()
    digest.update(BUILD_RECIPE.encode())
    described = asdict(piece)
    for binary in described["binaries"]:
        if not binary["tags"]:  # added later: left out when empty, so no other piece rebuilds
            del binary["tags"]
    digest.update(json.dumps(described, sort_keys=True).encode())
    if piece.local:
        source = TOOLCHAIN_SRC / piece.local
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(source)).encode())
            digest.update(path.read_bytes())
    # Committed go.sum files only let go verify what it downloads; they do not
    # change what is built, so adding or refreshing one triggers no rebuild.
    return digest.hexdigest()


def output_path(root: Path, piece: Piece, name: str) -> Path:
    """Where a built file goes. Provider plugins live in ``plugins/``, not ``bin/``:
    they reach the engine through ``pulumi plugin install``, and a provider binary on
    PATH makes every engine run warn "using pulumi-resource-... from $PATH"."""
    if piece.plugin is not None and name == piece.plugin[3]:
        return root / "plugins" / name
    return root / "bin" / name


def stamp_path(root: Path, piece: Piece) -> Path:
    return root / "stamps" / f"{piece.name}.json"


def read_stamp(root: Path, piece: Piece) -> dict[str, object] | None:
    try:
        data = json.loads(stamp_path(root, piece).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_fresh(root: Path, piece: Piece) -> bool:
    """True when the piece was built from exactly this description and its outputs
    are still in bin. Reads files only: no go, no subprocess."""
    stamp = read_stamp(root, piece)
    if stamp is None or stamp.get("fingerprint") != fingerprint(piece):
        return False
    return all(output_path(root, piece, name).is_file() for name in piece.outputs)


def write_stamp(root: Path, piece: Piece, seconds: float) -> None:
    path = stamp_path(root, piece)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "piece": piece.name,
        "version": piece.version_label,
        "module": piece.module or piece.local,
        "module_version": piece.version,
        "fingerprint": fingerprint(piece),
        "seconds": round(seconds, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "outputs": list(piece.outputs),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
