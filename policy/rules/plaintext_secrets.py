"""No secrets in plain text: container env values and ConfigMap data.

Two signals, each with its own message:
- the key is credential-named (`password`, `secret`, `token`, `api_key`, `private_key`, ... as
  word parts of the env name or ConfigMap key) and holds a literal value;
- the value has the shape of a credential (a private key block, an AWS access key id, a GitHub,
  GitLab, Slack or Google API token, a JWT, a URL with a password), whatever the key is called.

Not secrets (look-alikes): keys that point at one (`PASSWORD_FILE`, `TOKEN_URL`, `SECRET_NAME`:
the last word part says it is a path, address or name), `valueFrom.secretKeyRef`, empty values,
`${VAR}` / `$(VAR)` placeholders, booleans and numbers (`REQUIRE_PASSWORD=true`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import WORKLOADS, containers

CREDENTIAL_WORDS = frozenset(
    {
        *("password", "passwords", "passwd", "pass", "pwd", "passphrase"),
        *("secret", "secrets", "token", "tokens", "credential", "credentials", "apikey", "dsn"),
    }
)
# `<qualifier>_key` is a credential; `key` alone is too common (`CACHE_KEY`, `SORT_KEY`).
KEY_QUALIFIERS = frozenset({"api", "private", "access", "signing", "encryption", "master", "client"})
# A credential-named key whose last word part is one of these points at the secret, not holds it.
POINTER_WORDS = frozenset(
    {
        "file",
        "path",
        "dir",
        "url",
        "uri",
        "endpoint",
        "host",
        "name",
        "ref",
        "arn",
        "mount",
        "location",
        "type",
        "header",
        "version",
        "ttl",
        "timeout",
        "length",
        "expiry",
        "lifetime",
        "enabled",
        "required",
    }
)
WORD_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)")
NOT_A_SECRET_VALUE = re.compile(r"(?i)^(true|false|yes|no|on|off|none|null|[0-9]+)$")

# (shape, what it looks like); searched anywhere in the value, so file contents count too.
SECRET_SHAPES = (
    (re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----"), "a private key"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20}\b"), "a GitLab token"),
    (re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a JWT"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
)
CONFIG_MAP = frozenset({"kubernetes:core/v1:ConfigMap"})


def word_parts(key: str) -> list[str]:
    """`DB_PASSWORD` -> [db, password]; `apiKey` -> [api, key]; `tls.private-key` -> [tls, private, key]."""
    return [part.lower() for part in WORD_PARTS.findall(key)]


def is_credential_name(key: str) -> bool:
    parts = word_parts(key)
    if not parts or parts[-1] in POINTER_WORDS:
        return False
    if any(part in CREDENTIAL_WORDS for part in parts):
        return True
    return any(first in KEY_QUALIFIERS and second == "key" for first, second in zip(parts, parts[1:], strict=False))


def is_literal(value: str) -> bool:
    """A value someone typed in: not empty, not only placeholders, not a flag or a number."""
    rest = PLACEHOLDER.sub("", value)
    return any(char.isalnum() for char in rest) and not NOT_A_SECRET_VALUE.match(value.strip())


def credential_shape(value: str) -> str | None:
    """What a value looks like (`an AWS access key id`), or None when it has no credential's shape."""
    return next((what for shape, what in SECRET_SHAPES if shape.search(value)), None)


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
            if not isinstance(value, str) or not is_literal(value):
                continue
            if isinstance(name, str) and is_credential_name(name):
                yield Finding(f"container {container.name!r} sets {name} in plain text; use valueFrom.secretKeyRef")
            elif (shape := credential_shape(value)) is not None:
                yield Finding(
                    f"container {container.name!r} env {name} holds what looks like a credential ({shape}); "
                    "move it to a Secret"
                )


def check_config_map(resource: Resource, options: Options) -> Iterator[Finding]:
    data = get(resource.props, "data")
    if data is UNKNOWN:
        yield unknown("data")
        return
    for key, value in (data or {}).items():
        if value is UNKNOWN:
            yield unknown(f"data.{key}")
        elif not isinstance(value, str) or not is_literal(value):
            continue
        elif is_credential_name(key):
            yield Finding(f"ConfigMap key {key!r} looks like a secret; put it in a Secret")
        elif (shape := credential_shape(value)) is not None:
            yield Finding(f"ConfigMap key {key!r} holds what looks like a credential ({shape}); put it in a Secret")


RULES = [
    Rule(
        name="no-plaintext-secrets",
        why="Plain env values end up in manifests, state, logs and `kubectl describe`.",
        fix="Put the value in a Secret (secret stack config) and use `valueFrom.secretKeyRef`.",
        description=(
            "No credential-named env var holds a literal value, and no env value has a credential's shape "
            "(private key, AWS/GitHub/Slack/Google key, JWT, URL with a password); use Secrets."
        ),
        enforcement="mandatory",
        check=check_env,
        types=WORKLOADS,
    ),
    Rule(
        name="no-secrets-in-configmaps",
        why="ConfigMaps are readable by anyone who can read the namespace and are not encrypted at rest.",
        fix="Move the key to a Secret.",
        description="ConfigMaps hold no literal value under a credential-named key and no credential-shaped value.",
        enforcement="mandatory",
        check=check_config_map,
        types=CONFIG_MAP,
    ),
]
