"""Read the `azora:` config inside a running Pulumi program, validated by the same model.

This is the one place the program touches `pulumi.Config`; components receive the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from azora.config.errors import ConfigError
from azora.config.load import NAMESPACE, decode_config_value, resolve_kubeconfig, validate_raw
from azora.config.model import SECRET_KEYS, StackConfig


def _all_config() -> dict[str, Any]:
    """Every config key the engine passed to the program, as `namespace:key` -> value."""
    values: dict[str, Any] = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    normalised: dict[str, Any] = {}
    for key, value in values.items():
        # Older engines send `project:config:key`; current ones `project:key`.
        namespace, _, rest = key.partition(":")
        rest = rest.removeprefix("config:")
        normalised[f"{namespace}:{rest}"] = value
    return normalised


def load_program_config(stack: str) -> tuple[StackConfig, dict[str, pulumi.Output[str]]]:
    """Validate the stack's `azora:` config; return the model and the secret values as secrets.

    Raises pulumi.RunError (reported without a traceback) listing every problem.
    """
    raw: dict[str, Any] = {}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    for key, value in _all_config().items():
        if not key.startswith(NAMESPACE):
            continue
        name = key[len(NAMESPACE) :]
        raw[name] = {"secure": "<secret>"} if key in secret_keys else decode_config_value(name, value)
    try:
        config = validate_raw(raw, f"Pulumi.{stack}.yaml")
    except ConfigError as exc:
        raise pulumi.RunError(f"invalid stack config:\n{exc}") from None
    azora = pulumi.Config("azora")
    secrets = {key: azora.require_secret(key) for key in SECRET_KEYS if key in raw}
    return config, secrets


def kubeconfig_path(config: StackConfig, stack: str, fallback_dir: Path) -> str | None:
    """The kubeconfig file the provider should use (see load.resolve_kubeconfig), relative to
    the project directory the engine names (`fallback_dir` when it names none, as under mocks).
    Raises pulumi.RunError, before any resource exists, when the file is missing."""
    project_dir = Path(pulumi.get_root_directory() or fallback_dir)
    path = resolve_kubeconfig(config, project_dir)
    if path is None:
        return None
    if not path.is_file():
        raise pulumi.RunError(
            f"Pulumi.{stack}.yaml: azora:kubeconfig: {path} does not exist; "
            "start the embedded cluster with `azora cluster up` (or point the key at your cluster's kubeconfig)"
        )
    return str(path)
