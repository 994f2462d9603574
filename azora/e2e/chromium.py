"""Which Chromium the suites drive, and the flags it is launched with.

Debian's Chromium (or any given executable), never a browser Playwright would download.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from azora.e2e.errors import E2EInputError

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "AZORA_CHROMIUM"
# Flags Debian's Chromium needs here: we run as root (no sandbox), there is no GPU, /dev/shm is
# small in containers, and the network is closed, so every background fetch only adds noise.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def resolve_chromium(explicit: str | None, env: Mapping[str, str] = os.environ) -> Path:
    """The Chromium to drive: `--browser-path`, else $AZORA_CHROMIUM, else /usr/bin/chromium.

    Raises E2EInputError when it is not an executable file, saying how to install it.
    """
    candidate = explicit or env.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    found = candidate if os.path.isabs(candidate) else shutil.which(candidate)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise E2EInputError(
            f"Chromium not found at {candidate!r}: install Debian's (`apt-get install -y chromium`) "
            f"or point --browser-path / ${CHROMIUM_ENV} at a Chromium executable"
        )
    return Path(found)
