"""Label and selector conventions shared by every component (`app.kubernetes.io/*`)."""

from __future__ import annotations

PART_OF = "azora"
NAME = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
VERSION = "app.kubernetes.io/version"
COMPONENT = "app.kubernetes.io/component"
# The blue/green colour of a pod; the active and preview Services select on it.
COLOR = "azora.io/color"
# local | staging | production; the policy pack reads it (production-only rules).
ENVIRONMENT = "azora.io/environment"
# "active" or "preview" on the two Services of a blue/green pair.
SERVICE_ROLE = "azora.io/service-role"


def standard(name: str, component: str | None = None) -> dict[str, str]:
    """The labels every object of the platform carries."""
    labels = {NAME: name, PART_OF_LABEL: PART_OF, MANAGED_BY: "pulumi"}
    if component:
        labels[COMPONENT] = component
    return labels


def selector(name: str, color: str | None = None) -> dict[str, str]:
    """Pods of one service, optionally of one colour. Never changes for a Deployment."""
    labels = {NAME: name, PART_OF_LABEL: PART_OF}
    if color:
        labels[COLOR] = color
    return labels


def label_value(text: str) -> str:
    """`text` as a label value, the way Helm charts treat versions (`trunc 63 | trimSuffix`):
    at most 63 characters, ending in a letter or digit. An image tag may be 128 characters;
    the full tag stays in the image reference and in AZORA_VERSION."""
    return text[:63].rstrip("-_.")
