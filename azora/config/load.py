"""Turn raw `azora:*` config (from a stack file or from Pulumi) into a StackConfig or a ConfigError.

Two sources feed the same validation:
- `load_stack_file(path)`: the YAML of `Pulumi.<stack>.yaml`, offline, with line numbers;
- `validate_raw(raw, source)`: a dict of key -> value already parsed (used by the program).
"""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from azora.config import model as m
from azora.config.errors import ConfigError, KeyPath, NestedProblems, Problem
from azora.errors import not_utf8

NAMESPACE = "azora:"
# What the repository's staging and production files hold instead of real ciphertext: real
# values are set per backend with `pulumi config set --secret`, which replaces the marker.
PLACEHOLDER_SECRET = "PLACEHOLDER"


def placeholder_secrets(raw: dict[str, Any]) -> list[str]:
    """Secret keys of a stack file that still hold the repository's placeholder."""
    return [key for key, value in raw.items() if value == {"secure": PLACEHOLDER_SECRET}]


def load_stack_file(path: str | Path) -> m.StackConfig:
    """Read and validate one stack file. Raises ConfigError naming the file, key path and line."""
    raw, lines = read_stack_file(path)
    return validate_raw(raw, Path(path).name, lines)


def read_checked(path: Path) -> tuple[str, yaml.Node | None]:
    """A stack file's text and YAML node tree, or a ConfigError naming the file and line: not
    readable, not YAML, or a key twice in one mapping (which YAML loaders silently resolve by
    keeping the last value)."""
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [Problem((), f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [Problem((), not_utf8(exc))]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_problem(exc)]) from None
    duplicates = duplicate_keys(node)
    if duplicates:
        raise ConfigError(source, duplicates)
    return text, node


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem((), f"not valid YAML: {reason}", mark.line + 1 if mark is not None else None)


def read_stack_file(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The `azora:` keys of a stack file (prefix stripped) and the line of every key path."""
    path = Path(path)
    source = path.name
    text, node = read_checked(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_problem(exc)]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(source, [Problem((), "a stack file must be a mapping with a `config:` key", 1)])
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(source, [Problem((), "`config:` must be a mapping")])
    lines = _line_index(node)
    raw: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(key, str) and key.startswith(NAMESPACE):
            raw[key[len(NAMESPACE) :]] = value
    return raw, lines


def validate_raw(raw: dict[str, Any], source: str, lines: dict[KeyPath, int] | None = None) -> m.StackConfig:
    """Validate `azora:` keys (prefix stripped). Secret values arrive as {"secure": ...}.

    Files written before `azora:status` existed keep their release state under
    `services.<name>` (activeColor, idleScaledUp, promotedAt): it is read as status, and a
    problem with it is reported at the key path the file really has."""
    problems = _legacy_conflicts(raw)
    raw, moved = m.split_legacy_status(raw)
    prepared, secret_problems = _prepare_secrets(raw)
    problems.extend(secret_problems)
    try:
        config = m.StackConfig.model_validate(prepared)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, prepared))
        config = None
    if problems:
        lines = lines or {}
        problems = [_as_written(p, moved) for p in problems]
        located = [Problem(p.path, p.message, _line_of(p.path, lines)) for p in problems]
        located.sort(key=lambda p: p.line or 0)
        raise ConfigError(source, _dedupe(located))
    assert config is not None
    return config


def _legacy_conflicts(raw: dict[str, Any]) -> list[Problem]:
    """A release-state key written both under `services.<name>` (the old layout) and under
    `status.<name>` with different values: which one is meant cannot be guessed."""
    services, status = raw.get("services"), raw.get("status")
    if not isinstance(services, dict) or not isinstance(status, dict):
        return []
    problems = []
    for name, svc in services.items():
        entry = status.get(name)
        if not isinstance(svc, dict) or not isinstance(entry, dict):
            continue
        for key in m.LEGACY_STATUS_KEYS:
            if key in svc and key in entry and svc[key] != entry[key]:
                problems.append(
                    Problem(
                        ("services", name, key),
                        f"conflicts with azora:status.{name}.{key} ({svc[key]!r} here, {entry[key]!r} there); "
                        "release state belongs in azora:status: remove this one",
                    )
                )
    return problems


def _as_written(problem: Problem, moved: list[str]) -> Problem:
    """A problem found at `status.<name>.<key>` for a key the file keeps under `services`."""
    path = problem.path
    if len(path) >= 3 and path[0] == "status" and path[1] in moved and path[2] in m.LEGACY_STATUS_KEYS:
        return Problem(("services", *path[1:]), problem.message, problem.line)
    return problem


def legacy_layout(raw: dict[str, Any]) -> list[str]:
    """Services whose release state is still under `services.<name>` (the old layout)."""
    return m.split_legacy_status(raw)[1]


def _scalar_types() -> dict[str, Any]:
    return {(info.alias or name): info.annotation for name, info in m.StackConfig.model_fields.items()}


def decode_config_value(key: str, value: Any) -> Any:
    """Structured config arrives as JSON text and every scalar as a string (`pulumi config set
    azora:skipCharts true` stores "true"): decode what the model's field expects."""
    if not isinstance(value, str):
        return value
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    expected = _scalar_types().get(key)
    takes_bool = expected is bool or bool in typing.get_args(expected)  # `bool | list[str]` too
    if takes_bool and value in ("true", "false"):
        return value == "true"
    return value


# ----------------------------------------------------------------------------- secrets


def _prepare_secrets(raw: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Replace secret values with SecretValue markers; flag secrets stored in plain text."""
    prepared: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        is_secure = isinstance(value, dict) and set(value) == {"secure"}
        if key in m.SECRET_KEYS:
            if is_secure:
                prepared[key] = m.SecretValue(key=key)
            else:
                problems.append(
                    Problem((key,), f"must be stored as a secret: pulumi config set --secret azora:{key} <value>")
                )
        elif is_secure:
            problems.append(Problem((key,), "is stored as a secret, but this key holds plain data"))
        else:
            # `pulumi config set azora:skipCharts true` writes the string "true".
            prepared[key] = decode_config_value(key, value)
    return prepared, problems


# ----------------------------------------------------------------------------- messages


def _problems_from(exc: ValidationError, data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        path, from_union = _real_path(tuple(error["loc"]), data)
        ctx = error.get("ctx") or {}
        nested = ctx.get("error")
        if isinstance(nested, NestedProblems):
            problems.extend(Problem(path + sub, message) for sub, message in nested.problems)
            continue
        problems.append(Problem(path, _message(error, path), None))
        if from_union:
            problems[-1] = Problem(path, problems[-1].message + "\x00union")
    return _merge_union(problems)


def _real_path(loc: KeyPath, data: Any) -> tuple[KeyPath, bool]:
    """Drop pydantic's union and key tags ('str', 'int', '[key]') from a location.

    Returns the key path as the user wrote it, and whether a union tag was dropped.
    """
    path: list[str | int] = []
    node = data
    union = False
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            path.append(part)
            node = node[part]  # type: ignore[index]  # a str key of a dict or an int index of a list
        elif isinstance(part, str) and ("[" in part or part[:1].isupper() or part in _UNION_TAGS):
            union = union or part in _UNION_TAGS
        else:
            # A key missing from the input (a required key): it is the leaf of the path.
            path.append(part)
            node = None
    return tuple(path), union


_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _describe(value: Any) -> str:
    kind = {
        dict: "a mapping",
        list: "a list",
        str: "the string",
        bool: "the boolean",
        int: "the integer",
        float: "the number",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)
    return kind if isinstance(value, dict | list) or value is None else f"{kind} {value!r}"


def _message(error: Any, path: KeyPath) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else ""
        close = difflib.get_close_matches(key, _all_keys(), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key{hint}"
    if kind in _TYPE_NAMES:
        hint = " (quote it)" if kind == "string_type" and isinstance(value, int | float) else ""
        return f"must be {_TYPE_NAMES[kind]}, got {_describe(value)}{hint}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {value!r}"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        symbol, name = bounds[kind]
        return f"must be {symbol} {ctx.get(name)}, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _merge_union(problems: list[Problem]) -> list[Problem]:
    """Fold the per-member errors of a union (`str | int`) into one message per key."""
    merged: list[Problem] = []
    union_index: dict[KeyPath, int] = {}
    for problem in problems:
        if not problem.message.endswith("\x00union"):
            merged.append(problem)
            continue
        message = problem.message.removesuffix("\x00union")
        if problem.path in union_index:
            index = union_index[problem.path]
            earlier = merged[index].message
            want = message.split(", got ")[0].removeprefix("must be ")
            head, _, got = earlier.partition(", got ")
            merged[index] = Problem(problem.path, f"{head} or {want}, got {got}")
        else:
            union_index[problem.path] = len(merged)
            merged.append(Problem(problem.path, message))
    return merged


def _all_keys() -> list[str]:
    keys: set[str] = set()
    stack: list[type[BaseModel]] = [m.StackConfig]
    seen: set[type[BaseModel]] = set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
            stack.extend(_models_in(info.annotation))
    return sorted(keys)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config models an annotation names, however nested (`dict[str, ServiceConfig]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[KeyPath, str]] = set()
    unique = []
    for problem in problems:
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            unique.append(problem)
    return unique


# ----------------------------------------------------------------------------- line numbers


def duplicate_keys(node: yaml.Node | None) -> list[Problem]:
    """Every key that appears twice in one mapping, anywhere in the document, with both lines.
    PyYAML and ruamel's safe modes keep the last value silently; a stack file must not."""
    problems: list[Problem] = []
    stack: list[tuple[yaml.Node, KeyPath]] = [(node, ())] if node is not None else []
    while stack:
        current, path = stack.pop()
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in first:
                    where = _display(path + (key,))
                    problems.append(
                        Problem((), f"duplicate key {where} at lines {first[key]} and {line}; keep one", line)
                    )
                else:
                    first[key] = line
                stack.append((value_node, path + (key,)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, path + (index,)) for index, item in enumerate(current.value))
    return sorted(problems, key=lambda p: p.line or 0)


def _display(path: KeyPath) -> str:
    """A key path as the file spells it, without the `config:` level every key sits under."""
    if path[:1] == ("config",) and len(path) > 1:
        path = path[1:]
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_index(node: yaml.Node | None) -> dict[KeyPath, int]:
    """Map every `azora:` key path in the stack file to its 1-based line."""
    index: dict[KeyPath, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return index
    for key_node, value_node in node.value:
        if key_node.value != "config" or not isinstance(value_node, yaml.MappingNode):
            continue
        for top_key, top_value in value_node.value:
            name = str(top_key.value)
            if name.startswith(NAMESPACE):
                path: KeyPath = (name[len(NAMESPACE) :],)
                index[path] = top_key.start_mark.line + 1
                _walk(top_value, path, index)
    return index


def _walk(node: yaml.Node, path: KeyPath, index: dict[KeyPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            index[child] = key_node.start_mark.line + 1
            _walk(value_node, child, index)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            child = (*path, position)
            index[child] = item.start_mark.line + 1
            _walk(item, child, index)


def _line_of(path: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def resolve_kubeconfig(config: m.StackConfig, project_dir: Path) -> Path | None:
    """The kubeconfig file a stack targets: `azora:kubeconfig` resolved against the project
    directory, or None for the ambient one (and in render mode, which needs no cluster)."""
    if config.render_dir is not None or config.kubeconfig is None:
        return None
    path = Path(config.kubeconfig).expanduser()
    return path if path.is_absolute() else project_dir / path
