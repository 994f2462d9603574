"""Read plain Kubernetes manifests (files, directories, multi-document YAML, `List` kinds) as
policy resources with the Pulumi type tokens a preview would use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policy.rules.model import Resource

SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest that cannot be read: the message names the file and the line."""


def type_token(api_version: str, kind: str) -> str:
    """`apps/v1` + `Deployment` -> `kubernetes:apps/v1:Deployment`; the core group is `core`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


@dataclass(frozen=True)
class _Located:
    document: Any
    path: Path
    line: int


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if path.exists():
        return [path]
    raise ManifestError(f"{path}: no such file or directory")


# libyaml's loader is about ten times faster than the pure-Python one on `helm template` output.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _documents(path: Path) -> Iterator[_Located]:
    """Each non-empty document of a file with its first line; one parse, no re-serialising."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            document = loader.construct_document(node)
            # `---` at the end of a file, or a comment-only document, is empty: skip it.
            if document is not None:
                yield _Located(document, path, node.start_mark.line + 1)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{path}{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()


def _objects(located: _Located) -> Iterator[Resource]:
    document = located.document
    if document is None:
        return
    where = f"{located.path}:{located.line}"
    if not isinstance(document, Mapping):
        raise ManifestError(f"{where}: a manifest must be a mapping, got {type(document).__name__}")
    kind = document.get("kind")
    api_version = document.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        raise ManifestError(f"{where}: an object needs string apiVersion and kind")
    if kind == "List" or (kind.endswith("List") and isinstance(document.get("items"), list)):
        for item in document.get("items") or []:
            yield from _objects(_Located(item, located.path, located.line))
        return
    name = document.get("metadata", {}).get("name", "") if isinstance(document.get("metadata"), Mapping) else ""
    yield Resource(type=type_token(api_version, kind), props=document, name=str(name))


def read_manifests(paths: list[Path]) -> list[Resource]:
    """Every object in the given files and directories, in order. Raises ManifestError."""
    resources: list[Resource] = []
    for path in paths:
        files = _files(path)
        if path.is_dir() and not files:
            raise ManifestError(f"{path}: no .yaml, .yml or .json files")
        for file in files:
            for located in _documents(file):
                resources.extend(_objects(located))
    return resources
