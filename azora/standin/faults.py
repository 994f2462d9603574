"""Failure modes chosen by version: a test deploys a bad release the way a user deploys any
release, by its image tag, which the pod sees as AZORA_VERSION.

The markers live in the pre-release part of the version (what follows the first "-" after
MAJOR.MINOR.PATCH; a leading "v" is allowed) and may be combined:

  never-ready        the health endpoint answers 503 forever: readiness never passes (nor, as
                     the Deployments probe the same path, liveness)
  crash-after-<N>s   the process exits with code 70 N seconds after it started (N may have up
                     to three decimals: crash-after-0.3s); in a test process, run_service
                     calls its on_crash hook instead and stops serving
  errors-<P>pct      P percent (0-100) of application requests answer 500. Deterministic: the
                     n-th application request fails when floor(n*P/100) > floor((n-1)*P/100),
                     so exactly P of every 100 fail, spread evenly (errors-5pct: the 20th, the
                     40th, ...; errors-50pct: every second one)
  slow-<M>ms         every application request waits M milliseconds first

Application requests are all but the health endpoint, /metrics and the /__standin/ controls:
a scrape or a test's switch never fails because of the release it observes.

Examples: 2.1.0-never-ready, 2.1.0-rc.1.errors-5pct, 3.0.0-slow-250ms-errors-10pct,
v1.2.3-crash-after-30s.

The parser is strict and forgiving at once: a marker counts only whole, standing between
"-"/"." separators (or the ends), with its number in range; anything else in the pre-release
part (rc.1, a misspelt marker, errors-150pct) is ignored, and so is a kind given twice
(2.0.0-slow-10ms-slow-20ms: which one was meant?). A version without a MAJOR.MINOR.PATCH core
(latest, a commit sha) or without a pre-release part is a normal release.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

CRASH_EXIT_CODE = 70  # EX_SOFTWARE: tells an injected crash from a Python traceback (1)

_VERSION = re.compile(r"v?\d+\.\d+\.\d+-(?P<pre>[0-9A-Za-z_.-]+)")
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![0-9A-Za-z_])", r"(?![0-9A-Za-z_])"
_MARKER = re.compile(
    _EDGE_BEFORE
    + r"(?:(?P<never_ready>never-ready)"
    + r"|crash-after-(?P<crash_after>\d{1,6}(?:\.\d{1,3})?)s"
    + r"|errors-(?P<errors>\d{1,3})pct"
    + r"|slow-(?P<slow>\d{1,6})ms)"
    + _EDGE_AFTER
)


@dataclass(frozen=True)
class Faults:
    """What a release does wrong; `Faults()` is a normal release."""

    never_ready: bool = False
    crash_after: float | None = None  # seconds after start
    error_percent: int = 0
    slow_ms: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.error_percent <= 100:
            raise ValueError(f"error_percent must be 0-100, not {self.error_percent}")
        if self.slow_ms < 0 or (self.crash_after is not None and self.crash_after < 0):
            raise ValueError("slow_ms and crash_after cannot be negative")

    def describe(self) -> str:
        """The markers again, e.g. "never-ready, errors-5pct", or "none"."""
        parts = []
        if self.never_ready:
            parts.append("never-ready")
        if self.crash_after is not None:
            parts.append(f"crash-after-{self.crash_after:g}s")
        if self.error_percent:
            parts.append(f"errors-{self.error_percent}pct")
        if self.slow_ms:
            parts.append(f"slow-{self.slow_ms}ms")
        return ", ".join(parts) or "none"


def parse_faults(version: str) -> Faults:
    """The failure modes `version` asks for (see the module docstring)."""
    match = _VERSION.fullmatch(version.strip())
    if match is None:
        return Faults()
    found: dict[str, list[str]] = {}
    for marker in _MARKER.finditer(match["pre"]):
        for kind, value in marker.groupdict().items():
            if value is not None:
                found.setdefault(kind, []).append(value)
    single = {kind: values[0] for kind, values in found.items() if len(values) == 1}
    errors = int(single.get("errors", "0"))
    return Faults(
        never_ready="never_ready" in single,
        crash_after=float(single["crash_after"]) if "crash_after" in single else None,
        error_percent=errors if errors <= 100 else 0,
        slow_ms=int(single.get("slow", "0")),
    )


class ErrorSchedule:
    """Which application requests fail for errors-<P>pct: the n-th fails when
    floor(n*P/100) > floor((n-1)*P/100). Counts across threads (one lock)."""

    def __init__(self, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be 0-100, not {percent}")
        self.percent = percent
        self._count = 0
        self._lock = threading.Lock()

    def next_fails(self) -> bool:
        """Count one application request; True when it is to fail."""
        if not self.percent:
            return False
        with self._lock:
            self._count += 1
            n = self._count
        return n * self.percent // 100 > (n - 1) * self.percent // 100
