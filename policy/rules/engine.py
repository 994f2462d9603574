"""Run the rules over a set of resources: levels, options, exemptions and unknown values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from policy.rules.catalog import RULES
from policy.rules.exemptions import exempted_rules
from policy.rules.model import Finding, Resource, Rule, Violation
from policy.rules.settings import Settings

UNCHECKED_PREFIX = "not checked during preview: "


def _guarded(rule: Rule, subject: Resource | None, run: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """A rule's findings; a malformed object that breaks a rule becomes a finding, not a crash."""
    try:
        return list(run())
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        what = "the stack's objects" if subject is None else "this object"
        return [Finding(f"{what} is malformed where this rule looks ({type(exc).__name__}: {exc})", resource=subject)]


def with_standard(rule: Rule, finding: Finding) -> Finding:
    """The finding with the standard's control it breaks named at the end of its message, so the
    text, JSON and SARIF outputs and the CrossGuard pack all say it."""
    standard = finding.standard or rule.standard
    return replace(finding, message=f"{finding.message} ({standard})") if standard else finding


def _raw_findings(rule: Rule, resources: list[Resource], settings: Settings) -> Iterator[tuple[Resource, Finding]]:
    options = settings.options_for(rule)
    if rule.stack:
        for finding in _guarded(rule, None, lambda: rule.check(resources, options)):
            subject = finding.resource
            if subject is not None and rule.name in exempted_rules(subject.annotations):
                continue
            yield (subject or Resource("stack", {}, "stack")), finding
        return
    for resource in resources:
        if rule.applies_to(resource) and rule.name not in exempted_rules(resource.annotations):
            for finding in _guarded(rule, resource, functools.partial(rule.check, resource, options)):
                yield resource, finding


def findings_of(rule: Rule, resources: list[Resource], settings: Settings) -> Iterable[tuple[Resource, Finding]]:
    """What one rule finds, exemptions already applied, each naming the standard's control."""
    for resource, finding in _raw_findings(rule, resources, settings):
        yield resource, with_standard(rule, finding)


def evaluate(resources: list[Resource], settings: Settings | None = None) -> list[Violation]:
    """Every violation of every enabled rule. A part a rule could not check (an unknown value
    during preview) is reported as an advisory, never silently passed."""
    settings = settings or Settings()
    violations: list[Violation] = []
    for rule in RULES:
        level = settings.level(rule)
        if level == "disabled":
            continue
        for resource, finding in findings_of(rule, resources, settings):
            if finding.unknown:
                violations.append(
                    Violation(
                        rule.name, "advisory", resource.display, UNCHECKED_PREFIX + finding.message, resource.source
                    )
                )
            else:
                finding_level = "advisory" if finding.advisory else level
                violations.append(
                    Violation(rule.name, finding_level, resource.display, finding.message, resource.source)
                )
    return violations
