"""One Azora service per process, as its container runs it (`python -m azora.standin serve`).

Who it is comes from the pod's environment (identity.py), what it does wrong from its version
(faults.py). It stops cleanly on SIGTERM, the kubelet's stop signal, and on SIGINT, within a
poll interval (busybox httpd ignores SIGTERM and sits out the whole grace period; this must
not), and exits 0. A crash-after-<N>s version exits with code 70 (faults.CRASH_EXIT_CODE) N
seconds after the start, abruptly, as a crashing app does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TextIO

from azora.standin.faults import CRASH_EXIT_CODE
from azora.standin.identity import ServiceIdentity
from azora.standin.server import LOCALHOST, run_service
from azora.standin.upstreams import Upstreams

POLL_SECONDS = 0.1


def serve(
    identity: ServiceIdentity,
    host: str = LOCALHOST,
    seconds: float | None = None,
    out: TextIO | None = None,
    exit_process: Callable[[int], object] = os._exit,
    upstreams: Upstreams | None = None,
) -> int:
    """Serve until SIGTERM, SIGINT or `seconds` (None: no bound); the exit code (0).

    Prints one line on `out` (stdout) once listening: identity, URL, health path, faults, and
    the peers it forwards `/<service>/...` to when it has any (upstreams.py).
    Installs signal handlers, so only from the main thread.
    """
    out = out or sys.stdout
    stopped_by: list[str] = []
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    def crash() -> None:
        print(f"standin: crashing, as version {identity.version} asks", file=sys.stderr, flush=True)
        exit_process(CRASH_EXIT_CODE)  # os._exit: no cleanup, like a real crash

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with run_service(identity, host=host, lifetime=None, on_crash=crash, upstreams=upstreams) as running:
            peers = f"; peers: {upstreams.describe()}" if upstreams is not None and upstreams.peers else ""
            print(
                f"standin: {identity.service} {identity.version} ({identity.color}, {identity.environment})"
                f" listening on {running.base_url}; health {identity.health_path};"
                f" faults: {identity.faults.describe()}{peers}",
                file=out,
                flush=True,
            )
            deadline = None if seconds is None else time.monotonic() + seconds
            while not stop.wait(POLL_SECONDS):
                if deadline is not None and time.monotonic() >= deadline:
                    break
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopped_by:
        print(f"standin: {stopped_by[0]}: stopped", file=sys.stderr, flush=True)
    return 0
