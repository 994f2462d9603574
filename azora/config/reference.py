"""Generate the README's configuration reference from the model, so the two never drift.

`python -m azora.config.reference` prints the Markdown table; a unit test checks that the
README contains exactly this text.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from azora.config.model import ChartSpec, SecretValue, StackConfig


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names)
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if annotation is SecretValue:
        return "secret string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, ChartSpec):
            return f"`{value.chart}` {value.version}"
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{value!r}`" if value not in ({}, []) else "empty"
    if info.default is None or info.default is PydanticUndefined:
        return "unset"
    value = info.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is typing.Annotated:
            candidate = get_args(candidate)[0]
        if get_origin(candidate) is dict:
            candidate = get_args(candidate)[1]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate is not SecretValue:
            return candidate
    return None


def _rows(model: type[BaseModel], prefix: str, seen: set[type[BaseModel]]) -> list[str]:
    rows: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotation = info.annotation
        is_map = get_origin(annotation) is dict or any(get_origin(a) is dict for a in get_args(annotation))
        path = f"{prefix}{key}"
        meaning = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{path}` | {_type_name(annotation)} | {_default(info)} | {meaning} |")
        sub = _model_of(annotation)
        if sub is not None and (sub not in seen or sub is ChartSpec):
            child_prefix = f"{path}.<name>." if is_map else f"{path}."
            if sub is ChartSpec and not is_map:
                rows.append(f"| `{path}.*` | mapping | | A chart spec: the keys of `releases.<name>` below. |")
                continue
            rows.extend(_rows(sub, child_prefix, seen | {sub}))
    return rows


def reference_table() -> str:
    header = ["| key (under `azora:`) | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(header + _rows(StackConfig, "", {StackConfig}))


if __name__ == "__main__":
    print(reference_table())
