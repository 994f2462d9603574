"""Config problems with the file and key path they belong to, and their rendering."""

from __future__ import annotations

from dataclasses import dataclass, field

from azora.errors import AzoraError, ExitCode

KeyPath = tuple[str | int, ...]


def format_key_path(path: KeyPath) -> str:
    """`("services", "web", "replicas")` -> `azora:services.web.replicas`; list items as `[0]`."""
    text = "azora:"
    for index, part in enumerate(path):
        if isinstance(part, int):
            text += f"[{part}]"
        elif index == 0:
            text += part
        else:
            text += f".{part}"
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's config."""

    path: KeyPath
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        key = format_key_path(self.path) if self.path else "config"
        line = f" (line {self.line})" if self.line else ""
        return f"{source}: {key}: {self.message}{line}"


class NestedProblems(ValueError):
    """Raised inside validators to report problems below the field being validated.

    Pydantic keeps the raised exception in the error's context, so the loader can append
    `subpaths` to the field's location and name the exact key.
    """

    def __init__(self, problems: list[tuple[KeyPath, str]]):
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


@dataclass
class ConfigError(AzoraError):
    """Every problem found in one stack's config, ready to print without a traceback (bad
    input: exit 2 where the CLI reports it; `azora config check` reports it as its finding)."""

    exit_code = ExitCode.BAD_INPUT

    source: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(problem.render(self.source) for problem in self.problems)
