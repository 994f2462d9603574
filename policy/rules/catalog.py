"""Every rule of the pack, in the order the README documents them."""

from __future__ import annotations

from policy.rules import (
    containers,
    deprecations,
    host_access,
    hygiene,
    images,
    kinds,
    metadata,
    monitoring,
    networking,
    plaintext_secrets,
    pod_security,
    rbac,
    rbac_reach,
    references,
    relations,
    scaling,
    scratch_space,
    security_context,
    stack,
)
from policy.rules.model import Rule

RULES: list[Rule] = [
    *kinds.RULES,
    *deprecations.RULES,
    *images.RULES,
    *containers.RULES,
    *scratch_space.RULES,
    *security_context.RULES,
    *hygiene.RULES,
    *host_access.RULES,
    *pod_security.RULES,
    *networking.RULES,
    *metadata.RULES,
    *plaintext_secrets.RULES,
    *scaling.RULES,
    *stack.RULES,
    *rbac.RULES,
    *rbac_reach.RULES,
    *relations.RULES,
    *monitoring.RULES,
    *references.RULES,
]
RULE_NAMES = frozenset(rule.name for rule in RULES)
BY_NAME = {rule.name: rule for rule in RULES}
