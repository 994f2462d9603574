"""The vocabulary of the rules: resources, findings, rules, violations and unknown values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

Enforcement = Literal["mandatory", "advisory", "disabled"]


class Unknown:
    """A value Pulumi cannot know during preview (an output of another resource)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def whole_numbers(value: Any) -> Any:
    """Turn integral floats into ints, recursively.

    Pulumi's wire format (protobuf Struct) carries every number as a double, so a preview
    sends `replicas: 3.0`; manifests say `3`. Rules compare integers either way.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def get(obj: Any, *path: str | int) -> Any:
    """Walk `path` into nested dicts and lists; None when absent, UNKNOWN when not yet known."""
    node = obj
    for part in path:
        if node is UNKNOWN:
            return UNKNOWN
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
            node = node[part]
        else:
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
    return node


@dataclass(frozen=True)
class Source:
    """Where a manifest object was read: the file (or `<stdin>`), the line its object starts on,
    and, for an item of a `List`, its path in the list (`items[2]`, `items[0].items[1]`)."""

    file: str
    line: int
    item: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f" {self.item}" if self.item else "")


@dataclass(frozen=True)
class Resource:
    """One Kubernetes object as a rule sees it: its Pulumi type token and its properties.

    Its properties are read, never changed, so the metadata every rule asks for (kind,
    namespace, name, labels, annotations) is worked out once per object."""

    type: str
    props: Mapping[str, Any]
    name: str = ""
    urn: str = ""
    source: Source | None = None  # manifests only: Pulumi resources have a URN instead

    @cached_property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @cached_property
    def namespace(self) -> Any:
        return get(self.props, "metadata", "namespace")

    @cached_property
    def object_name(self) -> Any:
        value = get(self.props, "metadata", "name")
        return value if value is not None else self.name

    @cached_property
    def labels(self) -> Mapping[str, Any]:
        value = get(self.props, "metadata", "labels")
        return value if isinstance(value, Mapping) else {}

    @cached_property
    def annotations(self) -> Mapping[str, Any]:
        value = get(self.props, "metadata", "annotations")
        return value if isinstance(value, Mapping) else {}

    @property
    def display(self) -> str:
        """`Kind/namespace/name`, the way every message names a resource."""
        namespace = self.namespace
        ns = "?" if namespace is UNKNOWN else (namespace or "-")
        name = self.object_name
        return f"{self.kind}/{ns}/{'?' if name is UNKNOWN else name}"


@dataclass(frozen=True)
class Finding:
    """What a rule found: a violation, or a part it could not check because it is unknown."""

    message: str
    unknown: bool = False
    resource: Resource | None = None  # stack rules name the resource they speak of
    advisory: bool = False  # never more than advisory, whatever the rule's level (an object outside the set)
    standard: str = ""  # the standard's control this finding breaks, when narrower than its rule's `standard`


def unknown(path: str) -> Finding:
    return Finding(f"{path} is not known during preview; it is checked again on update", unknown=True)


Options = Mapping[str, Any]
ResourceCheck = Callable[[Resource, Options], Iterable[Finding]]
StackCheck = Callable[[list[Resource], Options], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A named rule: a description a reviewer can act on, its default level and its check."""

    name: str
    description: str
    enforcement: Enforcement
    check: Callable[..., Iterable[Finding]]
    why: str = ""
    fix: str = ""
    types: frozenset[str] | None = None  # Pulumi type tokens; None means every resource
    options: Mapping[str, Any] = field(default_factory=dict)  # option -> default
    schema: Mapping[str, Any] = field(default_factory=dict)  # option -> JSON schema
    stack: bool = False  # a stack rule sees all resources at once
    # The published control the rule enforces, named in every finding and in the reference,
    # e.g. "Pod Security Standards Baseline: Sysctls"; empty for the rules of our own.
    standard: str = ""
    # Custom kinds, as (API group, kind), that the rule reads in part: no rule knows the rest of
    # their schema, so they stay listed as unchecked, with the rules that read them.
    reads: frozenset[tuple[str, str]] = frozenset()

    def applies_to(self, resource: Resource) -> bool:
        return self.types is None or resource.type in self.types


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: Literal["mandatory", "advisory"]
    resource: str
    message: str
    source: Source | None = None  # where the resource was read (SARIF locations); not in as_dict

    def as_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "resource": self.resource,
            "message": self.message,
        }
