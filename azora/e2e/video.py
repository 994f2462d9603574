"""Video of failed tests with the system ffmpeg.

Playwright records video through an ffmpeg of its own, which it would download;
`playwright_ffmpeg_env` points it at the system ffmpeg instead, if there is one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path


def playwright_ffmpeg_env(env: Mapping[str, str] = os.environ) -> dict[str, str] | None:
    """Environment changes that let Playwright record video with the system ffmpeg.

    Returns {} when Playwright already has its ffmpeg, the PLAYWRIGHT_BROWSERS_PATH to set
    when a shim directory pointing at the system ffmpeg was made, and None when video cannot
    be recorded (no ffmpeg on PATH, or not Linux).
    """
    revision = _ffmpeg_revision()
    if revision is None or not sys.platform.startswith("linux"):
        return None
    relative = Path(f"ffmpeg-{revision}") / "ffmpeg-linux"
    current = env.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    if (Path(current) / relative).is_file():
        return {}
    system_ffmpeg = shutil.which("ffmpeg")
    if system_ffmpeg is None:
        return None
    shim_root = Path(tempfile.gettempdir()) / f"azora-playwright-{os.getuid()}"
    link = shim_root / relative
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_file():
        link.unlink(missing_ok=True)  # a dangling link from an ffmpeg since removed
        link.symlink_to(system_ffmpeg)
    return {"PLAYWRIGHT_BROWSERS_PATH": str(shim_root)}


def _ffmpeg_revision() -> str | None:
    """The ffmpeg build revision the installed Playwright driver expects (browsers.json)."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or spec.origin is None:
        return None
    browsers = Path(spec.origin).parent / "driver" / "package" / "browsers.json"
    try:
        entries = json.loads(browsers.read_text())["browsers"]
    except (OSError, ValueError, KeyError):
        return None
    for entry in entries:
        if entry.get("name") == "ffmpeg":
            return str(entry["revision"])
    return None
