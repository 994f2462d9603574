"""`azora e2e`: the browser suites (pytest-playwright) against a URL with Debian's Chromium.

Nothing is downloaded: Playwright drives the system Chromium through `executable_path`
(never `playwright install`), and records video with the system ffmpeg when there is one.

- `suites/`: the shipped suites (auth, enrollment, payment, health), their conftest and flows.
- `runner`: which suite files to run, the pytest command line, the run itself.
- `chromium`: which Chromium, launched with which flags.
- `video`: letting Playwright record video with the system ffmpeg.

Reports, under the report directory: `junit.xml`, `report.html` (pytest-html, self-contained,
with the failure screenshots and videos embedded) and `artifacts/<test>/` (screenshot, video,
trace.zip of each failed test; open a trace with `playwright show-trace FILE`).
"""

from azora.e2e.chromium import CHROMIUM_ARGS, CHROMIUM_ENV, DEFAULT_CHROMIUM, resolve_chromium
from azora.e2e.errors import E2EInputError
from azora.e2e.runner import SUITES, SUITES_DIR, E2EPlan, check_plugins, pytest_command, run, suite_files
from azora.e2e.video import playwright_ffmpeg_env

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_ENV",
    "DEFAULT_CHROMIUM",
    "SUITES",
    "SUITES_DIR",
    "E2EInputError",
    "E2EPlan",
    "check_plugins",
    "playwright_ffmpeg_env",
    "pytest_command",
    "resolve_chromium",
    "run",
    "suite_files",
]
