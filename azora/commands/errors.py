"""Turn every known failure of an engine command into a red message and exit 1, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.markup import escape

from azora.config.errors import ConfigError
from azora.console import err
from azora.engine import EngineError, UpdateError
from azora.toolchain import ToolchainError


@contextmanager
def user_errors() -> Iterator[None]:
    """Every known failure becomes a red message and exit 1, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err.print(f"[red]✗[/] {escape(line)}")
        raise typer.Exit(1) from None
    except UpdateError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        for finding in exc.findings:
            err.print(f"  [red]{finding.enforcement}[/] {escape(finding.policy)}: {escape(finding.message)}")
        raise typer.Exit(1) from None
    except (EngineError, ToolchainError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
