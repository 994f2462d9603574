"""Whether a local pid runs, and whether it is still the process that was recorded, on every
platform the CLI supports (Linux, macOS): asked of psutil, never read from /proc by hand.

Two rules decide it:
- a process that runs nothing holds nothing: a zombie (exited or killed, not yet reaped by its
  parent or init) and a dead task count as gone, like a pid with no process at all;
- a pid can be reused: a process is the recorded one only while its start time (psutil's
  `create_time`, seconds since the epoch) matches the recorded one.

A process we may not inspect (psutil.AccessDenied) exists, so it counts as running; when its
start time cannot be read, it cannot be told apart from the recorded process and counts as it.
That errs on the safe side for locks (a lock is never taken from a process that may hold it);
whoever then signals such a process must expect a PermissionError.
"""

from __future__ import annotations

import psutil

# How far two readings of one process's start time may differ and still be the same process.
# On Linux psutil adds the start (in 1/100 s clock ticks since boot) to the boot time, which the
# kernel gives in whole seconds and derives from the wall clock: a reading taken in another
# process, or after the clock was nudged, can differ by one second. A pid comes round again
# only after the system has handed out the others (tens of thousands at least), which takes far
# longer than 1.5 s, so a reused pid is not mistaken for its old process. (A clock step of more
# than that makes the recorded process look like a stranger: it is then left alone, never
# signalled by mistake.)
START_TIME_TOLERANCE = 1.5

# The start time reported for a running process whose start time cannot be read: the earliest
# possible, so that it never looks younger than a lock it may hold.
UNKNOWN_START = 0.0

_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def _probe(pid: int) -> tuple[bool, float | None]:
    """(runs, start time): start time None when it runs but may not be inspected."""
    if pid <= 0:  # no process of its own (0 is the kernel's scheduler on Linux and macOS)
        return False, None
    try:
        process = psutil.Process(pid)
        try:
            if process.status() in _GONE:
                return False, None
        except psutil.AccessDenied:
            pass  # it exists; its status is not ours to read
        try:
            return True, process.create_time()
        except psutil.AccessDenied:
            return True, None
    except psutil.NoSuchProcess:  # also psutil.ZombieProcess (macOS answers so for zombies)
        return False, None


def process_start_time(pid: int) -> float | None:
    """When the process running under `pid` started (seconds since the epoch), or None when no
    process runs there (no such pid, a zombie or a dead task). A running process whose start
    time may not be read gives UNKNOWN_START."""
    runs, started = _probe(pid)
    if not runs:
        return None
    return UNKNOWN_START if started is None else started


def same_start(observed: float, recorded: float) -> bool:
    """Two start times of one process (within START_TIME_TOLERANCE)."""
    return abs(observed - recorded) <= START_TIME_TOLERANCE


def is_running(pid: int, start_time: float | None = None) -> bool:
    """A process runs under `pid` (not a zombie) and, when `start_time` is given, it is the
    process that started then, not a later one that reused the pid."""
    runs, started = _probe(pid)
    if not runs:
        return False
    if start_time is None or started is None:
        return True
    return same_start(started, start_time)
