"""Processes the cluster started, recorded and stopped by their own pid, never by name.

A record (`run/<component>.json`) holds the pid, the kernel's start time of that pid (field 22
of /proc/<pid>/stat) and the command line. A process counts as ours only while both match, so
a recycled pid is never signalled. Each process leads its own session, so stopping it signals
exactly the process group it created.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Record:
    pid: int
    start_time: int
    argv: list[str]
    started_at: float


# Process states of a pid that runs nothing: a zombie (exited or killed, not yet reaped by its
# parent or init) and a dead task.
_DEAD = ("Z", "X")


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after "pid (comm)", or None when there is no such pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def running_start_time(pid: int) -> int | None:
    """The kernel's start time (clock ticks since boot) of the process running under `pid`, or
    None when none runs there (no such pid, or a zombie)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in _DEAD:
        return None
    return int(fields[19])


def is_running(record: Record) -> bool:
    """The recorded process still runs (same pid and start time, not a zombie)."""
    return running_start_time(record.pid) == record.start_time


def read(path: Path) -> Record | None:
    try:
        return Record(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
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
    entry = Record(process.pid, running_start_time(process.pid) or 0, list(argv), time.time())
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
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGTERM)
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
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(entry.name) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in _DEAD and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
