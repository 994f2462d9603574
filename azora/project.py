"""The project a command works on, resolved once at the CLI's entry and passed down.

Found the way the pulumi CLI finds it: the current directory or the nearest parent holding
`Pulumi.yaml`, or the directory given with `-C/--cwd` (or `AZORA_PROJECT_DIR`). Nothing else
computes a project root: the release workflow, render, the embedded cluster's directory and
the backend's default state directory all come from here. (The install itself, with the
policy pack and the toolchain's sources, is `azora.engine.INSTALL_ROOT`; the two are the same
directory in this repository, but a second clone is its own project.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from azora.errors import BadInput, ExitCode, not_utf8

PROJECT_FILE = "Pulumi.yaml"
# What the README calls the section on backends (named in the implicit-backend refusal).
BACKENDS_SECTION = "README.md#backends-and-secrets"


class ProjectNotFound(BadInput):
    """No `Pulumi.yaml` where the command was run."""


@dataclass(frozen=True)
class Project:
    """A Pulumi project directory and the places azora keeps things in it."""

    root: Path
    name: str

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        """The project holding `start` (default: the current directory), searching upwards."""
        here = (start or Path.cwd()).resolve()
        if not here.is_dir():
            raise ProjectNotFound(f"{here}: no such directory (-C/--cwd)")
        for directory in (here, *here.parents):
            settings = directory / PROJECT_FILE
            if settings.is_file():
                return cls(directory, _project_name(settings))
        raise ProjectNotFound(
            f"no {PROJECT_FILE} in {here} or any parent: run azora inside a Pulumi project, or pass -C DIR"
        )

    def stack_file(self, stack: str) -> Path:
        return self.root / f"Pulumi.{stack}.yaml"

    def existing_stack_file(self, stack: str) -> Path:
        """The stack's file, or a bad-input error listing the stacks the project has."""
        path = self.stack_file(stack)
        if not path.is_file():
            known = ", ".join(self.stacks()) or "none"
            raise BadInput(f"{path.name} not found in {self.root} (stacks: {known})", exit_code=ExitCode.BAD_INPUT)
        return path

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.root.glob("Pulumi.*.yaml"))

    @property
    def state_dir(self) -> Path:
        """The local `file://` backend's directory (gitignored)."""
        return self.root / ".azora" / "state"

    @property
    def cluster_dir(self) -> Path:
        """The embedded cluster's directory (`AZORA_CLUSTER_DIR` overrides it)."""
        configured = os.environ.get("AZORA_CLUSTER_DIR")
        return Path(configured).resolve() if configured else self.root / ".azora" / "cluster"


def _project_name(settings: Path) -> str:
    try:
        document = yaml.safe_load(settings.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise BadInput(f"{settings}: cannot read the project file: {not_utf8(exc)}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{settings}: cannot read the project file: {exc}") from None
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name:
        raise BadInput(f"{settings}: `name` is missing")
    return name
