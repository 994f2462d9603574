"""What a command runs in, made once at the CLI's entry: the directory it was started in, and
the project found from there (looked up on first use, so commands that need no project, such
as `azora --version` or `azora policy check`, work anywhere)."""

from __future__ import annotations

from pathlib import Path

import typer

from azora.project import Project


class Context:
    def __init__(self, cwd: Path | None = None):
        self.cwd = cwd
        self._project: Project | None = None

    @property
    def project(self) -> Project:
        if self._project is None:
            self._project = Project.find(self.cwd)
        return self._project


def of(ctx: typer.Context) -> Context:
    """The Context the CLI's entry made (inherited by every sub-command's click context)."""
    obj = ctx.find_object(Context)
    return obj if obj is not None else Context()
