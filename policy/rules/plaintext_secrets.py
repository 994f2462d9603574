"""No secrets in plain text: env values with secret-like names or shapes, ConfigMap keys."""

from __future__ import annotations

import re
from collections.abc import Iterator

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import WORKLOADS, containers

SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|DSN)", re.IGNORECASE
)
SECRET_SHAPES = (
    re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # URL with user:password@
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"^(ghp|gho|github_pat|glpat|xox[baprs])[-_][A-Za-z0-9_-]{10,}"),
)
CONFIG_MAP = frozenset({"kubernetes:core/v1:ConfigMap"})


def _looks_secret(value: str) -> bool:
    return any(shape.search(value) for shape in SECRET_SHAPES)


def check_env(resource: Resource, options: Options) -> Iterator[Finding]:
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
            continue
        env = get(container.spec, "env")
        if env is UNKNOWN:
            yield unknown(f"{container.path}.env")
            continue
        for index, item in enumerate(env or []):
            name = get(item, "name")
            value = get(item, "value")
            if value is UNKNOWN:
                yield unknown(f"{container.path}.env[{index}].value")
                continue
            if not isinstance(value, str) or not value:
                continue
            if isinstance(name, str) and SECRET_NAME.search(name):
                yield Finding(f"container {container.name!r} sets {name} in plain text; use valueFrom.secretKeyRef")
            elif _looks_secret(value):
                yield Finding(
                    f"container {container.name!r} env {name} holds what looks like a credential; move it to a Secret"
                )


def check_config_map(resource: Resource, options: Options) -> Iterator[Finding]:
    data = get(resource.props, "data")
    if data is UNKNOWN:
        yield unknown("data")
        return
    for key, value in (data or {}).items():
        if SECRET_NAME.search(key):
            yield Finding(f"ConfigMap key {key!r} looks like a secret; put it in a Secret")
        elif value is UNKNOWN:
            yield unknown(f"data.{key}")
        elif isinstance(value, str) and _looks_secret(value):
            yield Finding(f"ConfigMap key {key!r} holds what looks like a credential; put it in a Secret")


RULES = [
    Rule(
        name="no-plaintext-secrets",
        why="Plain env values end up in manifests, state, logs and `kubectl describe`.",
        fix="Put the value in a Secret (secret stack config) and use `valueFrom.secretKeyRef`.",
        description="No secret-looking environment values in plain text; use Secrets.",
        enforcement="mandatory",
        check=check_env,
        types=WORKLOADS,
    ),
    Rule(
        name="no-secrets-in-configmaps",
        why="ConfigMaps are readable by anyone who can read the namespace and are not encrypted at rest.",
        fix="Move the key to a Secret.",
        description="ConfigMaps hold no secret-like keys or credential-shaped values.",
        enforcement="mandatory",
        check=check_config_map,
        types=CONFIG_MAP,
    ),
]
