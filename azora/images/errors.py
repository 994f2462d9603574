"""The errors of image building and importing: one line that names the image, never a traceback."""

from __future__ import annotations

from azora.errors import AzoraError, ExitCode


class ImageError(AzoraError):
    """An image could not be built or imported (the message names the image and the cause)."""


class ImageRefError(ImageError):
    """The stack names an image that is not a valid reference or that the stand-in cannot serve."""

    exit_code = ExitCode.BAD_INPUT
