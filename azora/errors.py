"""One error root for the CLI, carrying its exit code (pip's Command.main does the same).

Every failure a user can cause or meet is an AzoraError (or a subclass); the CLI's entry
(azora.cli.AzoraGroup) prints it, with its detail lines, and exits with its code. Nothing
below the entry catches broadly or calls sys.exit.

Exit codes (documented in the README, stable for CI):
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    SWITCHED_BACK = 3
    INCONCLUSIVE = 4


MEANINGS = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "failed (the engine, a policy rule, a smoke check, the cluster); the message says what",
    ExitCode.BAD_INPUT: "bad input (a flag, a stack file, a manifest); nothing was changed",
    ExitCode.SWITCHED_BACK: "a check after a promotion failed and the service was switched back cleanly",
    ExitCode.INCONCLUSIVE: "a gate could not decide (too little evidence); the release holds where it is",
}
__doc__ = (__doc__ or "") + "".join(f"\n- {code.value}: {text}" for code, text in MEANINGS.items()) + "\n"


class AzoraError(Exception):
    """A failure to report without a traceback: a message, detail lines, an exit code."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, details: list[str] | None = None, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.details = list(details or [])
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(AzoraError):
    """A flag, path or value the user gave that cannot be used."""

    exit_code = ExitCode.BAD_INPUT


def not_utf8(exc: UnicodeDecodeError) -> str:
    """What to say of a file that is not UTF-8: the first bad byte and where it is."""
    return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
