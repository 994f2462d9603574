"""Image rules: pinned tags, semver or digests in production, allowed registries, pull policy."""

from __future__ import annotations

import re
from collections.abc import Iterator

from policy.rules.environment import ENVIRONMENT_SCHEMA, is_production
from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import WORKLOADS, containers

SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
DEFAULT_REGISTRIES = (
    "ghcr.io/azora/",
    "registry.k8s.io/",
    "quay.io/prometheus/",
    "quay.io/prometheus-operator/",
    "quay.io/kiwigrid/",
    "quay.io/jetstack/",
    "docker.io/bitnami/",
    "docker.io/grafana/",
    "docker.io/otel/",
)


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`registry/path:tag@digest` -> (full repository with registry, tag, digest)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    first = image.split("/", 1)[0]
    if "/" not in image:
        image = f"docker.io/library/{image}"
    elif "." not in first and ":" not in first and first != "localhost":
        image = f"docker.io/{image}"
    return image, tag, digest


def _images(resource: Resource) -> Iterator[tuple[str, str] | Finding]:
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
            continue
        image = get(container.spec, "image")
        if image is UNKNOWN:
            yield unknown(f"{container.path}.image")
        elif isinstance(image, str):
            yield container.path, image
        else:
            yield Finding(f"{container.path} ({container.name}) has no image")


def check_image_tag(resource: Resource, options: Options) -> Iterator[Finding]:
    production = is_production(resource, options)
    for item in _images(resource):
        if isinstance(item, Finding):
            yield item
            continue
        path, image = item
        _, tag, digest = split_image(image)
        if digest:
            continue
        if tag is None:
            yield Finding(f"{path}.image {image!r} has no tag; pin a version, e.g. {image}:1.2.3")
        elif tag == "latest":
            yield Finding(f"{path}.image {image!r} uses 'latest'; pin a version, e.g. :1.2.3")
        elif production and not SEMVER.match(tag):
            yield Finding(f"{path}.image {image!r}: production images need a semver tag (1.2.3) or a digest")


def check_registries(resource: Resource, options: Options) -> Iterator[Finding]:
    allowed = tuple(options.get("registries") or DEFAULT_REGISTRIES)
    for item in _images(resource):
        if isinstance(item, Finding):
            yield item
            continue
        path, image = item
        repository, _, _ = split_image(image)
        if not any(
            repository.startswith(prefix.rstrip("/") + "/") or repository == prefix.rstrip("/") for prefix in allowed
        ):
            yield Finding(
                f"{path}.image {image!r} is not from an allowed registry ({', '.join(allowed)}); "
                "mirror it or add the registry to the allowed-registries config"
            )


def check_pull_policy(resource: Resource, options: Options) -> Iterator[Finding]:
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
            continue
        policy = get(container.spec, "imagePullPolicy")
        if policy is UNKNOWN:
            yield unknown(f"{container.path}.imagePullPolicy")
        elif policy is None:
            yield Finding(
                f"{container.path} ({container.name}) sets no imagePullPolicy; set IfNotPresent for pinned tags"
            )
        elif policy == "Always":
            yield Finding(
                f"{container.path} ({container.name}) pulls Always; "
                "with pinned tags IfNotPresent avoids registry outages"
            )


RULES = [
    Rule(
        name="image-tag-pinned",
        why="A moving tag makes a rollback redeploy something else, and pods of one Deployment differ.",
        fix="Pin `image:tag` (semver in production) or `@sha256:` digest.",
        description="Images carry a pinned tag (never 'latest' or none); production needs semver tags or digests.",
        enforcement="mandatory",
        check=check_image_tag,
        types=WORKLOADS,
        options={"environment": None},
        schema={"environment": ENVIRONMENT_SCHEMA},
    ),
    Rule(
        name="allowed-registries",
        why="Images from unknown registries bypass our scanning and can vanish or change.",
        fix="Mirror the image into an allowed registry, or add the registry in the rule's `registries` option.",
        description="Images come only from the allowed registries.",
        enforcement="mandatory",
        check=check_registries,
        types=WORKLOADS,
        options={"registries": list(DEFAULT_REGISTRIES)},
        schema={
            "registries": {"type": "array", "items": {"type": "string"}, "description": "Allowed registry prefixes."}
        },
    ),
    Rule(
        name="image-pull-policy",
        why="Implicit pull policies differ by tag; `Always` turns a registry outage into a failed rollout.",
        fix="Set `imagePullPolicy: IfNotPresent`.",
        description="Containers set imagePullPolicy explicitly, IfNotPresent for pinned tags.",
        enforcement="advisory",
        check=check_pull_policy,
        types=WORKLOADS,
    ),
]
