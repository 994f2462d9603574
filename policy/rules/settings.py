"""Policy configuration, in the format of `pulumi preview --policy-pack-config FILE`.

    {
      "all": "advisory",                                   # optional: every rule's level
      "allowed-registries": {"registries": ["ghcr.io/azora/"]},
      "production-min-replicas": {"enforcementLevel": "mandatory", "minReplicas": 3},
      "image-pull-policy": "disabled"
    }

A rule's entry is a level or an object with `enforcementLevel` and the rule's own options.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy.rules.catalog import BY_NAME
from policy.rules.model import Enforcement, Rule

LEVELS = ("mandatory", "advisory", "disabled")
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "array": list,
    "boolean": bool,
    "object": dict,
    "number": (int, float),
}


class SettingsError(ValueError):
    """The policy config names an unknown rule, level or option, or a value of the wrong type."""


@dataclass(frozen=True)
class Settings:
    levels: Mapping[str, Enforcement] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def level(self, rule: Rule) -> Enforcement:
        return self.levels.get(rule.name, rule.enforcement)

    def options_for(self, rule: Rule) -> dict[str, Any]:
        # An option set to null means "the default", as an absent one does.
        chosen = {key: value for key, value in self.options.get(rule.name, {}).items() if value is not None}
        return {**rule.options, **chosen}


def _check_option(rule: Rule, key: str, value: Any, where: str) -> None:
    schema = rule.schema.get(key)
    if schema is None:
        known = ", ".join(sorted(rule.schema)) or "none"
        raise SettingsError(f"{where}: {rule.name} has no option {key!r} (options: {known})")
    expected: type | tuple[type, ...] = _JSON_TYPES.get(schema.get("type", ""), object)
    if value is not None and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
        raise SettingsError(f"{where}: {rule.name}.{key} must be of type {schema.get('type')}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise SettingsError(f"{where}: {rule.name}.{key} must be one of {schema['enum']}, got {value!r}")
    if "minimum" in schema and isinstance(value, int) and value < schema["minimum"]:
        raise SettingsError(f"{where}: {rule.name}.{key} must be >= {schema['minimum']}, got {value}")


def parse_settings(raw: Mapping[str, Any], where: str = "policy config") -> Settings:
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{where}: must be a JSON object")
    levels: dict[str, Enforcement] = {}
    options: dict[str, dict[str, Any]] = {}
    default = raw.get("all")
    if default is not None:
        if isinstance(default, Mapping):
            default = default.get("enforcementLevel")
        if default not in LEVELS:
            raise SettingsError(f"{where}: all must be one of {', '.join(LEVELS)}, got {default!r}")
        levels.update({name: default for name in BY_NAME})
    for name, entry in raw.items():
        if name == "all":
            continue
        rule = BY_NAME.get(name)
        if rule is None:
            raise SettingsError(f"{where}: unknown rule {name!r}")
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        if not isinstance(entry, Mapping):
            raise SettingsError(f"{where}: {name} must be a level or an object")
        level = entry.get("enforcementLevel")
        if level is not None:
            if level not in LEVELS:
                raise SettingsError(
                    f"{where}: {name}.enforcementLevel must be one of {', '.join(LEVELS)}, got {level!r}"
                )
            levels[name] = level
        for key, value in entry.items():
            if key != "enforcementLevel":
                _check_option(rule, key, value, where)
                options.setdefault(name, {})[key] = value
    return Settings(levels, options)


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        byte = f"byte {exc.object[exc.start]:#04x} at offset {exc.start}"
        raise SettingsError(f"{path}: not UTF-8 text ({byte})") from None
    return parse_settings(raw, str(path))
