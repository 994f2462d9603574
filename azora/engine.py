"""The real Pulumi engine through the Automation API: workspaces on the project or on a
throwaway copy of a stack, with the policy pack on every preview and update.

Two kinds of workspace:
- `project_stack(stack)`: the project as users run it (`Pulumi.<stack>.yaml` in the repo),
  on the backend they chose (`PULUMI_BACKEND_URL`, default a gitignored `file://` directory).
- `ScratchStack`: a temporary project whose program is this repo and whose config is a copy of
  a stack file, on a temporary `file://` backend with the passphrase provider. Render mode and
  the integration tests use it, so they never touch real state or need a cloud KMS; secret
  values are replaced by visible placeholders (`<secret:KEY>`), never real secrets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from azora.state_files import broken_sidecars, remove_broken_sidecars
from azora.toolchain import Toolchain

ROOT = Path(__file__).resolve().parent.parent
POLICY_PACK = ROOT / "policy"
STATE_DIR = ROOT / ".azora" / "state"
LOCAL_PASSPHRASE = "azora-local"  # the local stack holds no secrets; its salt is committed
PROJECT = "azora-platform"


class EngineError(RuntimeError):
    """Something the engine reported, rephrased for the user (never a traceback)."""


class UpdateError(EngineError):
    """An update the engine or the policy pack refused; `findings` are the mandatory violations."""

    def __init__(self, message: str, findings: list[PolicyFinding] | None = None):
        super().__init__(message)
        self.findings = findings or []


def placeholder_secret(key: str) -> str:
    return f"<secret:{key}>"


def policy_config_file(stack: str) -> Path | None:
    """The stack's policy config (`policy/config/<stack>.json`), if it has one."""
    path = POLICY_PACK / "config" / f"{stack}.json"
    return path if path.exists() else None


def engine_env(toolchain: Toolchain, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the engine: the toolchain on PATH, no update checks, no telemetry."""
    env = toolchain.env(os.environ)
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_DIY_BACKEND_NO_LEGACY_WARNING", "true")
    # The analyzer and language host run our venv's python, whichever shell started us.
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env.update(extra or {})
    return env


def _command(toolchain: Toolchain) -> auto.PulumiCommand:
    return auto.PulumiCommand(root=str(toolchain.bin_dir.parent), skip_version_check=True)


def _stack_config_without_secrets(stack: str) -> tuple[dict[str, Any], list[str]]:
    """The repository stack file's config mapping without its secrets, and the secret keys."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    config = dict(document.get("config") or {})
    secret_keys = [key for key, value in config.items() if isinstance(value, dict) and set(value) == {"secure"}]
    for key in secret_keys:
        del config[key]
    return config, secret_keys


class StackFileMixin:
    """Read and write the `azora:` keys of a stack file, keeping objects as YAML objects
    (the Automation API's set_config stores an object as a JSON string)."""

    stack_file: Path

    def azora_config(self) -> dict[str, Any]:
        document = yaml.safe_load(self.stack_file.read_text()) or {}
        return {
            key[len("azora:") :]: value
            for key, value in (document.get("config") or {}).items()
            if key.startswith("azora:")
        }

    def set_azora(self, key: str, value: Any) -> None:
        """Replace (or, with value None, remove) one top-level `azora:` key."""
        document = yaml.safe_load(self.stack_file.read_text()) or {}
        config = document.setdefault("config", {}) or {}
        if value is None:
            config.pop(f"azora:{key}", None)
        else:
            config[f"azora:{key}"] = value
        document["config"] = config
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))


@dataclass
class ScratchStack(StackFileMixin):
    """A throwaway copy of one stack: own project dir, own file backend, own passphrase.

    `edit` changes the `azora:` config (prefix stripped) before the stack is created, e.g. to
    point charts at local test charts. Call `close()` (or use it as a context manager).
    """

    stack: str
    toolchain: Toolchain
    edit: Callable[[dict[str, Any]], None] | None = None
    secrets: Mapping[str, str] | None = None
    keep: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="azora-scratch-")))

    def __post_init__(self) -> None:
        self.project_dir = self.root / "project"
        self.stack_file = self.project_dir / f"Pulumi.{self.stack}.yaml"
        self.backend_dir = self.root / "state"
        self.project_dir.mkdir()
        self.backend_dir.mkdir()
        settings = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
        settings["main"] = str(ROOT)
        settings["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
        (self.project_dir / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        self.env = engine_env(
            self.toolchain,
            {
                "PULUMI_BACKEND_URL": f"file://{self.backend_dir}",
                "PULUMI_CONFIG_PASSPHRASE": "scratch",
                "PULUMI_HOME": str(Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))),
            },
        )
        self.workspace = auto.LocalWorkspace(
            work_dir=str(self.project_dir),
            env_vars=self.env,
            pulumi_command=_command(self.toolchain),
            secrets_provider="passphrase",
        )
        self.handle = auto.Stack.create(self.stack, self.workspace)
        self._write_config()

    def _write_config(self) -> None:
        config, secret_keys = _stack_config_without_secrets(self.stack)
        azora = {key[len("azora:") :]: value for key, value in config.items() if key.startswith("azora:")}
        if self.edit is not None:
            self.edit(azora)
        others = {key: value for key, value in config.items() if not key.startswith("azora:")}
        document = yaml.safe_load(self.stack_file.read_text()) if self.stack_file.exists() else {}
        document = document or {}
        document["config"] = {**others, **{f"azora:{key}": value for key, value in azora.items()}}
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        for key in secret_keys:
            name = key[len("azora:") :]
            value = (self.secrets or {}).get(name, placeholder_secret(name))
            self.handle.set_config(key, auto.ConfigValue(value, secret=True))

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ScratchStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def policy_args(stack: str) -> dict[str, Any]:
    """Keyword arguments that put the policy pack (and the stack's policy config) on a run."""
    args: dict[str, Any] = {"policy_packs": [str(POLICY_PACK)]}
    config = policy_config_file(stack)
    if config is not None:
        args["policy_pack_configs"] = [str(config)]
    return args


@dataclass(frozen=True)
class PolicyFinding:
    policy: str
    enforcement: str
    resource: str
    message: str


def policy_findings(events: list[auto.events.EngineEvent]) -> list[PolicyFinding]:
    """The policy violations an engine run reported, from its structured event stream."""
    findings = []
    for event in events:
        policy = event.policy_event
        if policy is None:
            continue
        findings.append(
            PolicyFinding(
                policy=policy.policy_name,
                enforcement=policy.enforcement_level,
                resource=policy.resource_urn or "",
                message=policy.message.strip(),
            )
        )
    return findings


def engine_diagnostics(exc: auto.errors.CommandError) -> str:
    """The useful lines of a failed engine run (its `error:` diagnostics), not the transcript."""
    lines = [line.strip() for line in str(exc).splitlines() if "error:" in line]
    return "; ".join(dict.fromkeys(lines)) or str(exc)[-1500:]


# Engine summaries that only repeat that something failed.
_GENERIC = ("update failed", "preview failed", "1 error occurred:")


def resource_errors(events: list[auto.events.EngineEvent]) -> list[str]:
    """Each resource's error from a run's structured diagnostics, as `name (type): message`
    with the provider's multi-line text folded onto one line (the API server's reason
    included), or [] when no resource reported one."""
    found: list[str] = []
    for event in events:
        diagnostic = event.diagnostic_event
        if diagnostic is None or diagnostic.severity != "error" or not diagnostic.urn:
            continue
        text = " ".join(part.strip(" *\t") for part in diagnostic.message.splitlines() if part.strip())
        for generic in _GENERIC:
            text = text.replace(generic, "").strip()
        if not text:
            continue
        urn = diagnostic.urn
        if urn.split("::")[-2].endswith("pulumi:pulumi:Stack"):
            continue
        name = urn.rsplit("::", 1)[-1]
        kind = urn.split("::")[-2].rsplit("$", 1)[-1]
        found.append(f"{name} ({kind}): {text}")
    return list(dict.fromkeys(found))


def run_update(
    handle: auto.Stack, stack: str, message: str | None = None, progress: Callable[[str], None] | None = None
) -> auto.UpResult:
    """`pulumi up` with the policy pack. A refusal raises UpdateError naming the rules."""
    events: list[auto.events.EngineEvent] = []
    try:
        return handle.up(
            message=message, on_event=events.append, on_output=progress, color="never", **policy_args(stack)
        )
    except auto.errors.CommandError as exc:
        findings = [f for f in policy_findings(events) if f.enforcement == "mandatory"]
        what = f" ({message})" if message else ""
        if findings:
            raise UpdateError(f"the policy pack refused the update of {stack}{what}", findings) from None
        reasons = "; ".join(resource_errors(events)) or engine_diagnostics(exc)
        raise UpdateError(f"the update of {stack} failed{what}: {reasons}") from None


class ProjectStack(StackFileMixin):
    """A stack of a project directory as users run it: `Pulumi.<stack>.yaml` next to
    `Pulumi.yaml`, on the backend of `PULUMI_BACKEND_URL` (default: a `file://` directory in
    the project's gitignored `.azora/state`). The project directory is this repository unless
    `AZORA_PROJECT_DIR` names another (a scratch copy whose `Pulumi.yaml` has `main:` here).
    """

    def __init__(self, stack: str, toolchain: Toolchain, project_dir: Path | None = None, repair_state: bool = False):
        """With `repair_state` (`azora up`), first remove metadata sidecars a killed update cut
        short (see azora.state_files); `repaired` lists them."""
        self.stack = stack
        self.project_dir = (project_dir or Path(os.environ.get("AZORA_PROJECT_DIR", ROOT))).resolve()
        self.stack_file = self.project_dir / f"Pulumi.{stack}.yaml"
        extra: dict[str, str] = {}
        if not os.environ.get("PULUMI_BACKEND_URL"):
            state = self.project_dir / ".azora" / "state"
            state.mkdir(parents=True, exist_ok=True)
            extra["PULUMI_BACKEND_URL"] = f"file://{state}"
        if (
            stack == "local"
            and "PULUMI_CONFIG_PASSPHRASE" not in os.environ
            and not os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        ):
            extra["PULUMI_CONFIG_PASSPHRASE"] = LOCAL_PASSPHRASE
        self.env = engine_env(toolchain, extra)
        backend = self.env.get("PULUMI_BACKEND_URL", "")
        file_backend = backend.startswith("file://")
        if file_backend and not (
            self.env.get("PULUMI_CONFIG_PASSPHRASE") or self.env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        ):
            raise EngineError(
                f"stack {stack!r} on {backend} uses the passphrase secrets provider: "
                "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)"
            )
        self.workspace = auto.LocalWorkspace(
            work_dir=str(self.project_dir),
            env_vars=self.env,
            pulumi_command=_command(toolchain),
            secrets_provider="passphrase" if file_backend else None,
        )
        self.repaired = remove_broken_sidecars(backend, PROJECT, stack) if repair_state else []
        try:
            self.handle = auto.Stack.create_or_select(stack, self.workspace)
        except auto.errors.CommandError as exc:
            broken = broken_sidecars(backend, PROJECT, stack)
            hint = (
                f"\n{len(broken)} metadata file(s) of the stack were cut short by an interrupted update "
                f"({', '.join(str(path) for path in broken)}); `azora up --stack {stack}` removes them"
                if broken
                else ""
            )
            raise EngineError(
                f"cannot open stack {stack!r} on {backend or 'the configured backend'}: {exc}{hint}"
            ) from None
