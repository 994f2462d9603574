"""The exemption annotation: `azora.io/policy-exempt: "<rule>: <reason>; <rule>: <reason>"`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXEMPT_ANNOTATION = "azora.io/policy-exempt"


@dataclass(frozen=True)
class Exemption:
    rule: str
    reason: str


def parse_exemptions(text: str) -> list[Exemption]:
    """Entries are separated by ';' or new lines; a rule without ': reason' has an empty reason."""
    entries = []
    for chunk in text.replace("\n", ";").split(";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        rule, _, reason = chunk.partition(":")
        entries.append(Exemption(rule.strip(), reason.strip()))
    return entries


def exempted_rules(annotations: object) -> set[str]:
    """Rules a resource is validly exempted from (those with a reason)."""
    mapping: dict[Any, Any]
    if isinstance(annotations, dict):
        mapping = annotations
    else:
        try:
            mapping = dict(annotations)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return set()
    raw = mapping.get(EXEMPT_ANNOTATION)
    if not isinstance(raw, str):
        return set()
    return {entry.rule for entry in parse_exemptions(raw) if entry.reason}
