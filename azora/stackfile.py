"""A `Pulumi.<stack>.yaml` edited the way a person edits it: round-trip, minimal changes.

The release workflow writes into a file people own and review in pull requests, so a version
bump must be a one-line diff: comments, key order, flow mappings and quoting all stay. This
module wraps ruamel.yaml's round-trip mode (as `pulumi config set` keeps comments, so must we):

- `StackFile.read(path)` parses the file; duplicate keys anywhere are refused with both lines;
- `azora()` gives the plain `azora:` values (prefix stripped), for validation;
- `set(path, value)` / `delete(path)` change one key, and `merge(key, value)` brings a whole
  `azora:` key to a new value while leaving every node that keeps its value untouched (what a
  rollback restores), so only the lines that really change differ;
- `save()` writes only when the text changed.

Scalars keep their quoting style when they change (a double-quoted "2.3.1" becomes a double-
quoted "2.4.0"); new mappings under a flow mapping stay flow.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from azora.config.errors import ConfigError, Problem
from azora.config.load import read_checked

NAMESPACE = "azora:"
Path_ = tuple[str | int, ...]


def _round_trip() -> YAML:
    handler = YAML(typ="rt")
    handler.preserve_quotes = True
    handler.width = 4096  # never fold a long line the person wrote on one
    handler.indent(mapping=2, sequence=4, offset=2)
    return handler


def plain(value: Any) -> Any:
    """A ruamel node tree as plain dicts, lists and scalars."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _styled_like(old: Any, new: Any) -> Any:
    """`new` in the scalar style of `old` (quotes kept), or as is for other types."""
    if isinstance(new, str) and not isinstance(new, DoubleQuotedScalarString | SingleQuotedScalarString):
        if isinstance(old, DoubleQuotedScalarString):
            return DoubleQuotedScalarString(new)
        if isinstance(old, SingleQuotedScalarString):
            return SingleQuotedScalarString(new)
    return new


def _node(value: Any, flow: bool) -> Any:
    """A plain value as a ruamel node; mappings and lists in flow style under a flow parent."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _node(item, flow)
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq(_node(item, flow) for item in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    return value


def _is_flow(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and bool(node.fa.flow_style())


def merge_into(container: CommentedMap, key: str, value: Any) -> None:
    """Set `container[key]` to `value`, keeping every part of the old node that keeps its value:
    equal scalars stay as written, mappings are updated key by key, removed keys go."""
    if key not in container:
        container[key] = _node(value, flow=_is_flow(container))
        return
    old = container[key]
    if isinstance(old, CommentedMap) and isinstance(value, Mapping):
        for gone in [k for k in old if k not in value]:
            del old[gone]
        for child, item in value.items():
            merge_into(old, child, item)
        return
    if plain(old) == plain(value) and type(plain(old)) is type(plain(value)):
        return
    if isinstance(old, CommentedSeq) and isinstance(value, list | tuple):
        container[key] = _node(list(value), flow=_is_flow(old))
        return
    container[key] = _styled_like(old, _node(value, flow=_is_flow(container)))


@dataclass
class StackFile:
    """One stack file, parsed for round-trip edits."""

    path: Path
    document: CommentedMap
    original: str

    @classmethod
    def read(cls, path: Path) -> StackFile:
        """Parse the file; refuse duplicate keys (with both lines) and non-mapping documents."""
        source = path.name
        text, _ = read_checked(path)
        document = _round_trip().load(text) if text.strip() else CommentedMap()
        if not isinstance(document, CommentedMap):
            raise ConfigError(source, [Problem((), "a stack file must be a mapping with a `config:` key", 1)])
        if document.get("config") is None:
            document["config"] = CommentedMap()
        if not isinstance(document["config"], CommentedMap):
            raise ConfigError(source, [Problem((), "`config:` must be a mapping")])
        return cls(path, document, text)

    @property
    def config(self) -> CommentedMap:
        config: CommentedMap = self.document["config"]
        return config

    def azora(self) -> dict[str, Any]:
        """The `azora:` keys (prefix stripped) as plain values."""
        return {
            str(key)[len(NAMESPACE) :]: plain(value)
            for key, value in self.config.items()
            if str(key).startswith(NAMESPACE)
        }

    def get(self, path: Sequence[str]) -> Any:
        """The plain value at `azora:<path[0]>.<path[1]>...`, or None."""
        node: Any = self.config.get(NAMESPACE + path[0])
        for part in path[1:]:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return plain(node)

    def set(self, path: Sequence[str], value: Any, comment: str | None = None) -> None:
        """Set one key below `azora:<path[0]>`, making the mappings on the way (flow style for
        the innermost new one, so a new service's status is one line). `comment` goes above
        a top-level key that did not exist."""
        top = NAMESPACE + path[0]
        if len(path) == 1:
            existed = top in self.config
            merge_into(self.config, top, value)
            if comment and not existed:
                self.config.yaml_set_comment_before_after_key(top, before=comment, indent=2)
            return
        if top not in self.config or not isinstance(self.config[top], CommentedMap):
            self.config[top] = CommentedMap()
            if comment:
                self.config.yaml_set_comment_before_after_key(top, before=comment, indent=2)
        node: CommentedMap = self.config[top]
        for depth, part in enumerate(path[1:-1], start=2):
            if part not in node or not isinstance(node[part], CommentedMap):
                child = CommentedMap()
                if depth == len(path) - 1 or _is_flow(node):
                    child.fa.set_flow_style()
                node[part] = child
            node = node[part]
        if path[-1] not in node and isinstance(value, Mapping) and not _is_flow(node):
            node[path[-1]] = _node(value, flow=True)  # a new entry (a service's status) is one line
            return
        merge_into(node, path[-1], value)

    def delete(self, path: Sequence[str]) -> None:
        """Remove one key (and a mapping it leaves empty below the top level)."""
        top = NAMESPACE + path[0]
        if len(path) == 1:
            self.config.pop(top, None)
            return
        parents: list[CommentedMap] = [self.config[top]] if isinstance(self.config.get(top), CommentedMap) else []
        for part in path[1:-1]:
            if not parents or not isinstance(parents[-1].get(part), CommentedMap):
                return
            parents.append(parents[-1][part])
        if not parents:
            return
        parents[-1].pop(path[-1], None)
        for parent, part in zip(reversed(parents[1:]), reversed(path[1:-1]), strict=True):
            if not parent:
                del parents[parents.index(parent) - 1][part]

    def merge(self, key: str, value: Any) -> None:
        """Bring `azora:<key>` to `value` (None removes it) with the fewest changed lines."""
        if value is None:
            self.config.pop(NAMESPACE + key, None)
        else:
            merge_into(self.config, NAMESPACE + key, value)

    def text(self) -> str:
        buffer = io.StringIO()
        _round_trip().dump(self.document, buffer)
        return buffer.getvalue()

    def save(self) -> bool:
        """Write the file if its text changed; True when it was written."""
        text = self.text()
        if text == self.original:
            return False
        self.path.write_text(text, encoding="utf-8")
        self.original = text
        return True
