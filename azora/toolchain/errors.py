"""The one exception of the toolchain package.

Everything a user can fix (a missing pins file, no Go, a failed build, a module the
proxy does not serve) is raised as ``ToolchainError``; its message says what is
missing and what to do, and commands print it instead of a traceback.
"""

from __future__ import annotations

from azora.errors import AzoraError


class ToolchainError(AzoraError):
    """A toolchain problem the user can act on; the message says what and how."""
