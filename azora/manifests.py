"""Read plain Kubernetes manifests (files, directories, standard input, multi-document YAML,
`List` kinds) as policy resources with the Pulumi type tokens a preview would use, each with the
file and line it was read from."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from azora.errors import not_utf8
from policy.rules.model import Resource, Source

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = Path("-")
STDIN_NAME = "<stdin>"


class ManifestError(ValueError):
    """A manifest that cannot be read: the message names the file and the line."""


def type_token(api_version: str, kind: str) -> str:
    """`apps/v1` + `Deployment` -> `kubernetes:apps/v1:Deployment`; the core group is `core`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


@dataclass(frozen=True)
class _Located:
    document: Any
    node: yaml.Node
    source: Source


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if path.exists():
        return [path]
    raise ManifestError(f"{path}: no such file or directory")


# libyaml's loader is about ten times faster than the pure-Python one on `helm template` output.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HELM_SOURCE = re.compile(r"^# Source: (\S.*)$")


def _helm_source(text: str, line: int) -> str | None:
    """The `# Source: chart/templates/x.yaml` comment `helm template` put above the document that
    holds `line` (1-based), if there is one."""
    lines = text.splitlines()[:line]
    for candidate in reversed(lines):
        match = _HELM_SOURCE.match(candidate)
        if match:
            return match.group(1).strip()
        if candidate.startswith("---"):
            return None
    return None


def _documents(text: str, name: str) -> Iterator[_Located]:
    """Each non-empty document of one input with its first line; one parse, no re-serialising."""
    loader = _Loader(text)
    number = 0  # of the document being read, empty ones included, as `---` separates them
    try:
        while loader.check_node():
            number += 1
            node = loader.get_node()
            if node is None:
                continue
            document = loader.construct_document(node)
            # `---` at the end of a file, or a comment-only document, is empty: skip it.
            if document is not None:
                yield _Located(document, node, Source(name, node.start_mark.line + 1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        where = f"document {max(number, 1)}"
        source = _helm_source(text, mark.line + 1) if mark is not None else None
        if source:
            where += f", # Source: {source}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{name}{line}: not valid YAML ({where}): {problem}") from None
    finally:
        loader.dispose()


def _items(located: _Located) -> Iterator[_Located]:
    """The items of a `List`, each with its own line and its path in the list."""
    items = located.document["items"]
    nodes: list[yaml.Node] = []
    if isinstance(located.node, yaml.MappingNode):
        for key, value in located.node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                nodes = list(value.value)
    prefix = f"{located.source.item}." if located.source.item else ""
    for index, item in enumerate(items):
        # Anchors and merges can make the nodes differ from the items; then the List's line will do.
        node = nodes[index] if len(nodes) == len(items) else located.node
        where = Source(located.source.file, node.start_mark.line + 1, f"{prefix}items[{index}]")
        yield _Located(item, node, where)


def _is_list(kind: str, document: Mapping[str, Any]) -> bool:
    return kind == "List" or (kind.endswith("List") and isinstance(document.get("items"), list))


def _objects(located: _Located) -> Iterator[Resource]:
    document = located.document
    if document is None:
        return
    where = str(located.source)
    if not isinstance(document, Mapping):
        raise ManifestError(f"{where}: a manifest must be a mapping, got {type(document).__name__}")
    kind = document.get("kind")
    api_version = document.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        raise ManifestError(f"{where}: an object needs string apiVersion and kind")
    if _is_list(kind, document):
        if not isinstance(document.get("items"), list):
            raise ManifestError(f"{where}: a List needs `items:` as a list of objects")
        for item in _items(located):
            yield from _objects(item)
        return
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    # An object without a name (generateName, or a mistake) is named by where it was read.
    label = str(name) if name else where
    yield Resource(type=type_token(api_version, kind), props=document, name=label, source=located.source)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{name}: {not_utf8(exc)}") from None


def _read(path: Path) -> str:
    try:
        return _decode(path.read_bytes(), str(path))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None


def _read_stdin(stdin: TextIO) -> str:
    """Standard input's bytes decoded as UTF-8 here, strictly: Python's own decoding of a pipe
    may keep undecodable bytes as surrogates, which the YAML parser then chokes on."""
    try:
        raw = getattr(stdin, "buffer", None)
        return _decode(raw.read(), STDIN_NAME) if raw is not None else stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{STDIN_NAME}: cannot read: {exc}") from None


def read_manifests(paths: list[Path], stdin: TextIO | None = None) -> list[Resource]:
    """Every object in the given files and directories, in order; `-` reads standard input (once).
    Raises ManifestError, also when they hold no object at all."""
    if sum(1 for path in paths if path == STDIN) > 1:
        raise ManifestError("- (standard input) can be given only once")
    resources: list[Resource] = []
    for path in paths:
        if path == STDIN:
            for located in _documents(_read_stdin(stdin or sys.stdin), STDIN_NAME):
                resources.extend(_objects(located))
            continue
        files = _files(path)
        if path.is_dir() and not files:
            raise ManifestError(f"{path}: no .yaml, .yml or .json files")
        for file in files:
            for located in _documents(_read(file), str(file)):
                resources.extend(_objects(located))
    if not resources:
        # A gate that read nothing checked nothing: fail closed, as when the command before the
        # pipe (`helm template`, say) failed and sent nothing.
        names = ", ".join(STDIN_NAME if path == STDIN else str(path) for path in paths)
        raise ManifestError(f"{names}: no Kubernetes objects to check")
    return resources
