"""Processes the cluster started, recorded and stopped by their own pid, never by name.

A record (`run/<component>.json`) holds the pid, the start time of that process (psutil's
`create_time`, seconds since the epoch, see azora.liveness) and the command line. A process
counts as ours only while both match, so a recycled pid is never signalled. Each process leads
its own session, so stopping it signals exactly the process group it created.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from azora import liveness


@dataclass(frozen=True)
class Record:
    pid: int
    start_time: float  # psutil's create_time: seconds since the epoch
    argv: list[str]
    started_at: float
    # psutil's boot time when start_time was read. The two come from the wall clock, so a clock
    # step moves both: their difference (seconds since boot) is what identifies the process.
    boot_time: float | None = None


# The start time (seconds since the epoch) of the process running under a pid, or None when
# none runs there (no such pid, or a zombie). Kept under this name for the live tests.
running_start_time = liveness.process_start_time


def since_boot(pid: int) -> float | None:
    """When the process under `pid` started, in seconds since boot (None: none runs there;
    liveness.UNKNOWN_START when it runs but may not be inspected). Unlike an epoch start time,
    a clock step between two readings does not change it: psutil adds the boot time it last
    read to the kernel's tick count, and the boot time is read again here first."""
    booted = psutil.boot_time()
    started = liveness.process_start_time(pid)
    if started is None or started == liveness.UNKNOWN_START:
        return started
    return started - booted


def is_running(record: Record) -> bool:
    """The recorded process still runs (same pid and start time, not a zombie). Records with a
    boot time compare seconds since boot, so a wall-clock step does not make every process of
    the cluster look like a stranger (the supervisor would then try to start a second copy of
    each, and `down` would leave them running)."""
    if record.boot_time is None:
        return liveness.is_running(record.pid, record.start_time)
    started = since_boot(record.pid)
    if started is None:
        return False
    if started == liveness.UNKNOWN_START:
        return True
    return liveness.same_start(started, record.start_time - record.boot_time)


def _legacy_start_time(ticks: int) -> float:
    """A start time as records before psutil kept it: Linux clock ticks since boot (field 22 of
    /proc/<pid>/stat), which never has a fraction and so reads back from JSON as an int. On
    Linux it converts exactly as psutil computes create_time; elsewhere, and for the 0 written
    when a process died at once, it is kept as is and matches no process: the record's process
    then counts as not ours (it is left running, never signalled)."""
    if ticks > 0 and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            return ticks / os.sysconf("SC_CLK_TCK") + psutil.boot_time()
    return float(ticks)


def read(path: Path) -> Record | None:
    try:
        fields = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return from_fields(fields)


def from_fields(fields: Any) -> Record | None:
    """A record from its JSON fields, or None when they are not one."""
    try:
        fields = dict(fields)
        start_time = fields.get("start_time")
        if isinstance(start_time, int) and not isinstance(start_time, bool):
            fields["start_time"] = _legacy_start_time(start_time)
        return Record(**fields)
    except (ValueError, TypeError, AttributeError):
        return None


def start(argv: Sequence[str], log: Path, record: Path, env: Mapping[str, str] | None = None) -> Record:
    """Start `argv` in its own session with output appended to `log`; write its record."""
    log.parent.mkdir(parents=True, exist_ok=True)
    record.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        sink.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        sink.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            close_fds=True,
        )
    booted = psutil.boot_time()  # first: create_time adds the boot time psutil last read
    started = liveness.process_start_time(process.pid)
    entry = Record(process.pid, started if started is not None else 0.0, list(argv), time.time(), booted)
    record.write_text(json.dumps(asdict(entry)) + "\n")
    return entry


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child (a test that started the cluster)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(record: Record, grace: float = 10.0) -> bool:
    """SIGTERM the recorded process group, then SIGKILL after `grace` seconds.
    Returns True if it was running."""
    if not is_running(record):
        _reap(record.pid)
        return False
    try:
        os.killpg(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:  # a pid whose start time psutil may not read (azora.liveness): not ours
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_running(record):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGKILL)
        for _ in range(100):
            _reap(record.pid)
            if not is_running(record):
                break
            time.sleep(0.05)
    return True


def group_members(pgid: int) -> list[int]:
    """Pids whose process group is `pgid` (to prove that `down` left nothing behind)."""
    members = []
    for pid in psutil.pids():
        try:
            in_group = os.getpgid(pid) == pgid
        except OSError:  # gone since, or not ours to ask
            continue
        if in_group and liveness.is_running(pid):  # a zombie runs nothing
            members.append(pid)
    return members
