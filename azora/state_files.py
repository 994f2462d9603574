"""A `file://` backend's files for one stack, and the metadata sidecars a killed update can cut short.

The Pulumi CLI writes every state blob (checkpoint, its backup, history entries, locks) through
gocloud's fileblob: first the blob itself, atomically (a temporary file, then a rename), then a
`<blob>.attrs` JSON sidecar with its content type and checksum, created and written in place. A
`pulumi up` killed between the two leaves an empty or cut-short sidecar, and from then on every
command on the stack fails with "failed to load checkpoint: EOF", although the checkpoint is
whole. A sidecar holds nothing the stack needs (without one, fileblob assumes its defaults), so
a sidecar that is not a JSON object is broken and safe to remove.
"""

from __future__ import annotations

import json
from pathlib import Path


def backend_root(backend_url: str) -> Path | None:
    """The directory of a `file://` backend URL (query options dropped), else None."""
    if not backend_url.startswith("file://"):
        return None
    return Path(backend_url[len("file://") :].split("?", 1)[0]).expanduser()


def lock_files(backend_url: str, project: str, stack: str) -> list[Path]:
    root = backend_root(backend_url)
    return sorted(root.glob(f".pulumi/locks/*/{project}/{stack}/*.json")) if root else []


def _sidecars(root: Path, project: str, stack: str) -> list[Path]:
    state = root / ".pulumi"
    patterns = [
        "meta.yaml.attrs",  # the backend's own settings, shared by every stack
        f"stacks/{project}/{stack}.json*.attrs",  # checkpoint and .bak, plain or compressed
        f"history/{project}/{stack}/*.attrs",
        f"backups/{project}/{stack}/*.attrs",
        f"locks/*/{project}/{stack}/*.attrs",
    ]
    return sorted({path for pattern in patterns for path in state.glob(pattern)})


def _broken(sidecar: Path) -> bool:
    try:
        return not isinstance(json.loads(sidecar.read_text()), dict)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True


def broken_sidecars(backend_url: str, project: str, stack: str) -> list[Path]:
    """The stack's metadata sidecars that do not parse (none for other backends)."""
    root = backend_root(backend_url)
    return [path for path in _sidecars(root, project, stack) if _broken(path)] if root else []


def remove_broken_sidecars(backend_url: str, project: str, stack: str) -> list[str]:
    """Remove the stack's broken sidecars; returns their paths inside the backend."""
    root = backend_root(backend_url)
    removed = []
    for path in broken_sidecars(backend_url, project, stack):
        path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(root)) if root else str(path))
    return removed
