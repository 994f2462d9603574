"""Which environment a resource belongs to: its `azora.io/environment` label, else config."""

from __future__ import annotations

from typing import Any

from policy.rules.model import Options, Resource, get
from policy.rules.workloads import pod_labels

ENVIRONMENT_LABEL = "azora.io/environment"
ENVIRONMENT_SCHEMA = {
    "type": "string",
    "enum": ["local", "staging", "production"],
    "description": "Environment for resources without an azora.io/environment label.",
}


def environment(resource: Resource, options: Options) -> Any:
    label = resource.labels.get(ENVIRONMENT_LABEL)
    if label is None:
        label = get(pod_labels(resource), ENVIRONMENT_LABEL)
    return label if isinstance(label, str) else options.get("environment")


def is_production(resource: Resource, options: Options) -> bool:
    return environment(resource, options) == "production"
