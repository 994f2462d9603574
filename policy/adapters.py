"""Glue between the plain rules and the pulumi-policy SDK: one SDK policy per rule, plus
`unchecked-during-preview`, which reports what the rules could not check yet.

Constructing these policy objects is harmless; only `PolicyPack(...)` in `__main__.py` starts
the analyzer server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as sdk_proxy

from policy.rules.catalog import RULES
from policy.rules.engine import UNCHECKED_PREFIX, findings_of
from policy.rules.model import UNKNOWN, Resource, Rule
from policy.rules.settings import Settings

_SENTINELS = {
    sdk_proxy.UNKNOWN_BOOLEAN_VALUE,
    sdk_proxy.UNKNOWN_NUMBER_VALUE,
    sdk_proxy.UNKNOWN_STRING_VALUE,
    sdk_proxy.UNKNOWN_ARRAY_VALUE,
    sdk_proxy.UNKNOWN_ASSET_VALUE,
    sdk_proxy.UNKNOWN_ARCHIVE_VALUE,
    sdk_proxy.UNKNOWN_OBJECT_VALUE,
}
_LEVELS = {
    "mandatory": EnforcementLevel.MANDATORY,
    "advisory": EnforcementLevel.ADVISORY,
    "disabled": EnforcementLevel.DISABLED,
}


def plain(value: Any) -> Any:
    """The SDK's unknown-checking proxies as plain data, with unknowns as UNKNOWN.

    The SDK raises on the first unknown it meets and turns the whole rule into an advisory;
    unwrapping lets each rule check everything that is known and name what is not.
    """
    with contextlib.suppress(TypeError, KeyError, IndexError):
        value = value["__target"]
    if isinstance(value, str) and value in _SENTINELS:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _settings(rule: Rule, config: Mapping[str, Any] | None) -> Settings:
    options = {k: v for k, v in (config or {}).items() if k in rule.schema}
    return Settings(options={rule.name: options})


def _schema(rule: Rule) -> PolicyConfigSchema | None:
    if not rule.schema:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in rule.schema.items()})


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = Resource(args.resource_type, plain(args.props), args.name, args.urn)
        for subject, finding in findings_of(rule, [resource], _settings(rule, args.get_config())):
            if not finding.unknown:
                report_violation(f"{subject.display}: {finding.message}", None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=_LEVELS[rule.enforcement],
        validate=validate,
        config_schema=_schema(rule),
    )


def _stack_resources(args: StackValidationArgs) -> list[Resource]:
    return [Resource(r.resource_type, plain(r.props), r.name, r.urn) for r in args.resources]


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = _stack_resources(args)
        for subject, finding in findings_of(rule, resources, _settings(rule, args.get_config())):
            # An advisory finding of a mandatory rule (an object outside the set) must not fail
            # the update: `unchecked-during-preview` reports it instead.
            if not finding.unknown and not (finding.advisory and rule.enforcement == "mandatory"):
                report_violation(f"{subject.display}: {finding.message}", subject.urn or None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=_LEVELS[rule.enforcement],
        validate=validate,
        config_schema=_schema(rule),
    )


def _unchecked_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = _stack_resources(args)
        for rule in RULES:
            for subject, finding in findings_of(rule, resources, Settings()):
                if finding.unknown:
                    report_violation(
                        f"{rule.name}: {subject.display}: {UNCHECKED_PREFIX}{finding.message}", subject.urn or None
                    )
                elif finding.advisory and rule.enforcement == "mandatory":
                    report_violation(f"{rule.name}: {subject.display}: {finding.message}", subject.urn or None)

    return StackValidationPolicy(
        name="unchecked-during-preview",
        description="Lists what a rule could not check because the value is unknown until the update.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=validate,
    )


def sdk_policies() -> list[Policy]:
    """Every rule as an SDK policy, in catalogue order, then `unchecked-during-preview`."""
    policies: list[Policy] = [_stack_policy(rule) if rule.stack else _resource_policy(rule) for rule in RULES]
    policies.append(_unchecked_policy())
    return policies
