"""The stack config: one validated model, loaded from a stack file or from Pulumi config."""

from azora.config.errors import ConfigError, Problem
from azora.config.model import StackConfig

__all__ = ["ConfigError", "Problem", "StackConfig"]
