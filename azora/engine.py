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

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from azora.errors import AzoraError, BadInput
from azora.project import BACKENDS_SECTION, Project
from azora.stackfile import StackFile
from azora.state_files import broken_sidecars, remove_broken_sidecars
from azora.toolchain import Toolchain

# Where azora is installed: the policy pack, the toolchain's sources, the virtualenv. The
# project a command works on is azora.project.Project (found from the current directory).
INSTALL_ROOT = Path(__file__).resolve().parent.parent
POLICY_PACK = INSTALL_ROOT / "policy"
LOCAL_PASSPHRASE = "azora-local"  # the local stack holds no secrets; its salt is committed
PROJECT = "azora-platform"
# Stacks whose state must live on a backend the user chose (never an implicit local directory).
SHARED_ENVIRONMENTS = ("staging", "production")

# A callback for each structured engine event of a run (live progress).
Progress = Callable[[auto.events.EngineEvent], None]


class ReleaseStack(auto.Stack):
    """An auto.Stack whose `up`, with `skip_readback` set, does not read the stack back after
    the update. The SDK's `up` always ends with `outputs()` and `info()`: three more CLI runs
    (about 0.8 s of a 5 s release step here) whose results a release step never uses. With
    `skip_readback`, `outputs()` is empty and `info()` a placeholder, and run_update puts the
    update's own summary event (the resource counts) into the result instead. Everything else,
    and both methods outside such an `up`, is the SDK's."""

    skip_readback = False

    def outputs(self) -> auto.OutputMap:
        return {} if self.skip_readback else super().outputs()

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        if self.skip_readback:
            return auto.UpdateSummary("update", dt.datetime.now(dt.UTC), "", {}, {}, "succeeded")
        return super().info(show_secrets)


class EngineError(AzoraError):
    """Something the engine reported, rephrased for the user (never a traceback)."""


class UpdateError(EngineError):
    """An update the engine or the policy pack refused; `findings` are the mandatory violations,
    printed as detail lines under the message."""

    def __init__(self, message: str, findings: list[PolicyFinding] | None = None):
        self.findings = findings or []
        super().__init__(message, details=[f.line() for f in self.findings])


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
    env["PATH"] = f"{INSTALL_ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env.update(extra or {})
    return env


def _command(toolchain: Toolchain) -> auto.PulumiCommand:
    return auto.PulumiCommand(root=str(toolchain.bin_dir.parent), skip_version_check=True)


class StackFileMixin:
    """Read and write the `azora:` keys of a stack file through azora.stackfile (round-trip:
    comments, order and styles stay; the Automation API's set_config would store an object as
    a JSON string)."""

    stack_file: Path

    def azora_config(self) -> dict[str, Any]:
        return StackFile.read(self.stack_file).azora()

    def set_azora(self, key: str, value: Any) -> None:
        """Bring one top-level `azora:` key to `value` (None removes it), changing only the
        lines whose values change."""
        document = StackFile.read(self.stack_file)
        document.merge(key, value)
        document.save()


@dataclass
class ScratchStack(StackFileMixin):
    """A throwaway copy of one stack: own project dir, own file backend, own passphrase.

    `edit` changes the `azora:` config (prefix stripped) before the stack is created, e.g. to
    point charts at local test charts. `program_dir` is the project whose program and stack
    file are copied (default: this repository). Call `close()` (or use it as a context manager).
    """

    stack: str
    toolchain: Toolchain
    edit: Callable[[dict[str, Any]], None] | None = None
    secrets: Mapping[str, str] | None = None
    keep: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="azora-scratch-")))
    program_dir: Path = INSTALL_ROOT

    def __post_init__(self) -> None:
        self.project_dir = self.root / "project"
        self.stack_file = self.project_dir / f"Pulumi.{self.stack}.yaml"
        self.backend_dir = self.root / "state"
        self.project_dir.mkdir()
        self.backend_dir.mkdir()
        settings = yaml.safe_load((self.program_dir / "Pulumi.yaml").read_text())
        settings["main"] = str(self.program_dir)
        settings["runtime"]["options"]["virtualenv"] = str(INSTALL_ROOT / ".venv")  # the one azora runs in
        (self.project_dir / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        self.env = engine_env(
            self.toolchain,
            {
                "PULUMI_BACKEND_URL": f"file://{self.backend_dir}",
                "PULUMI_CONFIG_PASSPHRASE": "scratch",
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

    def cli_env(self, **extra: str) -> dict[str, str]:
        """The environment in which the `azora` command works on this scratch stack: its
        project directory, file backend and passphrase (plus `extra`)."""
        return {
            **os.environ,
            "AZORA_PROJECT_DIR": str(self.project_dir),
            "PULUMI_BACKEND_URL": f"file://{self.backend_dir}",
            "PULUMI_CONFIG_PASSPHRASE": "scratch",
            **extra,
        }

    def _write_config(self) -> None:
        """The repository's stack file as it is written (comments, order and styles kept, so a
        release step's diff here is the diff it makes in the real file), less its secrets,
        which are set through the engine with test values."""
        source = StackFile.read(self.program_dir / f"Pulumi.{self.stack}.yaml")
        secret_keys = [
            str(key) for key, value in source.config.items() if isinstance(value, Mapping) and set(value) == {"secure"}
        ]
        for key in secret_keys:
            del source.config[key]
        if self.edit is not None:
            azora = source.azora()
            self.edit(azora)
            for key in set(source.azora()) | set(azora):
                source.merge(key, azora.get(key))
        if self.stack_file.exists():  # what `stack init` wrote (the passphrase salt)
            for key, value in StackFile.read(self.stack_file).document.items():
                if key != "config":
                    source.document[key] = value
        written = StackFile(self.stack_file, source.document, "")
        written.save()
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

    def line(self) -> str:
        name = self.resource.rsplit("::", 1)[-1] if self.resource else "(stack)"
        return f"{self.enforcement} {self.policy}: {name}: {self.message}"


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


def _recorder(events: list[auto.events.EngineEvent], progress: Progress | None) -> Progress:
    def record(event: auto.events.EngineEvent) -> None:
        events.append(event)
        if progress is not None:
            progress(event)

    return record


def run_update(
    handle: auto.Stack,
    stack: str,
    message: str | None = None,
    progress: Progress | None = None,
    on_output: Callable[[str], None] | None = None,
) -> auto.UpResult:
    """`pulumi up` with the policy pack, in one engine pass (the Automation API's up skips the
    separate preview). A refusal raises UpdateError naming the rules; a failure names each
    resource and the engine's (or the API server's) reason."""
    events: list[auto.events.EngineEvent] = []
    on_output = on_output or getattr(progress, "on_output", None)
    light = handle if isinstance(handle, ReleaseStack) else None
    try:
        if light is not None:
            light.skip_readback = True
        result = handle.up(
            message=message,
            on_event=_recorder(events, progress),
            on_output=on_output,
            color="never",
            **policy_args(stack),
        )
    except auto.errors.CommandError as exc:
        raise failure(f"the update of {stack}", events, exc, message) from None
    finally:
        if light is not None:
            light.skip_readback = False
    summary = next((e.summary_event for e in reversed(events) if e.summary_event is not None), None)
    if light is not None and summary is not None:
        result.summary.resource_changes = summary.resource_changes
        result.summary.message = message or ""
    return result


def run_preview(
    handle: auto.Stack,
    stack: str,
    progress: Progress | None = None,
    on_output: Callable[[str], None] | None = None,
    **options: Any,
) -> tuple[auto.PreviewResult, list[auto.events.EngineEvent]]:
    """`pulumi preview` with the policy pack; its result and structured events (the diff)."""
    events: list[auto.events.EngineEvent] = []
    try:
        result = handle.preview(
            on_event=_recorder(events, progress), on_output=on_output, color="never", **options, **policy_args(stack)
        )
    except auto.errors.CommandError as exc:
        raise failure(f"the preview of {stack}", events, exc) from None
    return result, events


def failure(
    what: str, events: list[auto.events.EngineEvent], exc: auto.errors.CommandError, message: str | None = None
) -> UpdateError:
    """The engine's own diagnostics of a failed run (`what`, e.g. "the update of staging", with
    the update's message): the mandatory policy findings, or each resource's error, or the
    engine's `error:` lines."""
    context = f" ({message})" if message else ""
    findings = [f for f in policy_findings(events) if f.enforcement == "mandatory"]
    if findings:
        return UpdateError(f"the policy pack refused {what}{context}", findings)
    reasons = "; ".join(resource_errors(events)) or engine_diagnostics(exc)
    return UpdateError(f"{what} failed{context}: {reasons}")


def backend_for(project: Project, environment: str, stack: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The backend settings a stack runs with: `PULUMI_BACKEND_URL` as the user set it, or the
    project's gitignored `file://` directory, which only the local environment gets without
    asking. Staging and production state on a laptop's disk would split the team's history
    in two and lose the lock that keeps two releases apart, so they refuse instead."""
    if environ.get("PULUMI_BACKEND_URL"):
        return {}
    if environment in SHARED_ENVIRONMENTS:
        raise BadInput(
            f"stack {stack!r} ({environment}) needs a shared backend and PULUMI_BACKEND_URL is not set: "
            f"set it to the team's backend (e.g. s3://azora-pulumi-state?region=eu-west-1), or ask for a local "
            f"one explicitly with PULUMI_BACKEND_URL=file://{project.state_dir} (see {BACKENDS_SECTION})"
        )
    project.state_dir.mkdir(parents=True, exist_ok=True)
    return {"PULUMI_BACKEND_URL": f"file://{project.state_dir}"}


class ProjectStack(StackFileMixin):
    """A stack of a project as users run it: `Pulumi.<stack>.yaml` next to `Pulumi.yaml`, on the
    backend of `PULUMI_BACKEND_URL` (see backend_for)."""

    def __init__(
        self, project: Project, stack: str, environment: str, toolchain: Toolchain, repair_state: bool = False
    ):
        """With `repair_state` (`azora up`), first remove metadata sidecars a killed update cut
        short (see azora.state_files); `repaired` lists them."""
        self.stack = stack
        self.project = project
        self.project_dir = project.root
        self.stack_file = project.stack_file(stack)
        # Run before each update with the stack file as it will be applied (the embedded real
        # node imports the images the file names: azora.commands.stack.open_stack).
        self.before_update: Callable[[], None] | None = None
        extra = backend_for(project, environment, stack, os.environ)
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
            raise BadInput(
                f"stack {stack!r} on {backend} uses the passphrase secrets provider: "
                "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)"
            )
        self.workspace = auto.LocalWorkspace(
            work_dir=str(self.project_dir),
            env_vars=self.env,
            pulumi_command=_command(toolchain),
            secrets_provider="passphrase" if file_backend else None,
        )
        self.repaired = remove_broken_sidecars(backend, project.name, stack) if repair_state else []
        try:
            self.handle = auto.Stack.create_or_select(stack, self.workspace)
            self.handle.__class__ = ReleaseStack  # the same object, with run_update's light `up`
        except auto.errors.CommandError as exc:
            broken = broken_sidecars(backend, project.name, stack)
            hint = (
                f"\n{len(broken)} metadata file(s) of the stack were cut short by an interrupted update "
                f"({', '.join(str(path) for path in broken)}); `azora up --stack {stack}` removes them"
                if broken
                else ""
            )
            raise EngineError(
                f"cannot open stack {stack!r} on {backend or 'the configured backend'}: {exc}{hint}"
            ) from None
