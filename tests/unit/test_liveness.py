"""Process and lock liveness (azora.liveness) as psutil answers it: on a faked macOS-like process
table where /proc does not exist, and on a real child process."""

from __future__ import annotations

import builtins
import datetime as dt
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from azora import liveness
from azora.cluster import processes
from azora.engine import PROJECT, EngineError
from azora.recovery import Recovery, clear_stale_locks, stale

HOST = socket.gethostname()
TAKEN = dt.datetime(2025, 3, 4, 10, 0, 0, tzinfo=dt.UTC)  # when the lock was taken
T = TAKEN.timestamp()

# pids of the fake table
HOLDER = 4242  # the `pulumi up` that took the lock a minute after it started, still running
ZOMBIE = 4243  # that update killed, not yet reaped: macOS reads its status but not its start
DEAD = 4244
REUSED = 4245  # the pid now belongs to a process started ten minutes after the lock
DENIED = 4246  # another user's process: status and start time both refused
DENIED_STATUS = 4247  # status refused, start time readable
VANISHING = 4248  # exits between psutil.Process() and the status call
MISSING = 4249  # no such process


@dataclass
class Entry:
    status: str | Exception
    create_time: float | Exception
    pgid: int = 1


def _table() -> dict[int, Entry]:
    return {
        HOLDER: Entry(psutil.STATUS_RUNNING, T - 60, pgid=HOLDER),
        ZOMBIE: Entry(psutil.STATUS_ZOMBIE, psutil.ZombieProcess(ZOMBIE), pgid=HOLDER),
        DEAD: Entry(psutil.STATUS_DEAD, T - 50),
        REUSED: Entry(psutil.STATUS_SLEEPING, T + 600, pgid=HOLDER),
        DENIED: Entry(psutil.AccessDenied(DENIED), psutil.AccessDenied(DENIED)),
        DENIED_STATUS: Entry(psutil.AccessDenied(DENIED_STATUS), T - 30, pgid=HOLDER),
        VANISHING: Entry(psutil.NoSuchProcess(VANISHING), psutil.NoSuchProcess(VANISHING)),
    }


class FakeProcess:
    """psutil.Process over the fake table: it raises what psutil raises on macOS."""

    table: dict[int, Entry] = {}

    def __init__(self, pid: int) -> None:
        if pid not in self.table:
            raise psutil.NoSuchProcess(pid)
        self.pid = pid

    def _answer(self, value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        return value

    def status(self) -> str:
        return self._answer(self.table[self.pid].status)

    def create_time(self) -> float:
        return self._answer(self.table[self.pid].create_time)


@pytest.fixture
def macos(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[int, Entry]]:
    """A macOS-like machine: psutil answers from the fake table, and /proc does not exist (any
    attempt to read it fails as it would there)."""
    table = _table()
    monkeypatch.setattr(FakeProcess, "table", table)
    monkeypatch.setattr(psutil, "Process", FakeProcess)
    monkeypatch.setattr(psutil, "pids", lambda: sorted(table))
    monkeypatch.setattr(sys, "platform", "darwin")

    def getpgid(pid: int) -> int:
        if pid not in table:
            raise ProcessLookupError(pid)
        return table[pid].pgid

    monkeypatch.setattr(os, "getpgid", getpgid)

    proc_reads: list[str] = []

    def no_proc(real: Any) -> Any:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            path = args[0] if args else kwargs.get("file", kwargs.get("path", ""))
            name = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else ""
            if name.startswith("/proc"):
                proc_reads.append(name)
                raise FileNotFoundError(2, "No such file or directory", name)
            return real(*args, **kwargs)

        return guarded

    monkeypatch.setattr(builtins, "open", no_proc(builtins.open))
    monkeypatch.setattr(io, "open", no_proc(io.open))
    monkeypatch.setattr(os, "listdir", no_proc(os.listdir))
    monkeypatch.setattr(os, "scandir", no_proc(os.scandir))
    yield table
    assert proc_reads == [], "liveness read /proc"


def _lock(pid: int, host: str = HOST, timestamp: str = "2025-03-04T10:00:00.123456789Z") -> dict[str, Any]:
    return {"pid": pid, "username": "dev", "hostname": host, "timestamp": timestamp}


def test_start_times_and_liveness_on_macos(macos: dict[int, Entry]) -> None:
    assert liveness.process_start_time(HOLDER) == T - 60
    assert liveness.process_start_time(REUSED) == T + 600
    assert liveness.process_start_time(DENIED_STATUS) == T - 30
    assert liveness.process_start_time(DENIED) == liveness.UNKNOWN_START == 0.0  # exists, start unknown
    for gone in (ZOMBIE, DEAD, VANISHING, MISSING, 0, -1):
        assert liveness.process_start_time(gone) is None, gone
        assert liveness.is_running(gone) is False, gone
        assert liveness.is_running(gone, T - 60) is False, gone

    assert liveness.is_running(HOLDER) is True
    assert liveness.is_running(HOLDER, T - 60) is True
    assert liveness.is_running(HOLDER, T - 60 + 0.004) is True  # float rounding of a recorded time
    assert liveness.is_running(HOLDER, T - 60 - 1.0) is True  # a whole-second boot time read apart
    assert liveness.is_running(HOLDER, T - 65) is False  # another process on that pid
    assert liveness.is_running(REUSED, T - 60) is False
    assert liveness.is_running(DENIED) is True
    assert liveness.is_running(DENIED, T - 60) is True  # cannot be told apart: counts as running
    assert liveness.is_running(DENIED_STATUS, T - 30) is True
    assert liveness.is_running(DENIED_STATUS, T + 30) is False


def test_lock_staleness_on_macos(macos: dict[int, Entry]) -> None:
    assert stale(_lock(HOLDER), HOST) is False  # a live update keeps its lock
    assert stale(_lock(ZOMBIE), HOST) is True  # killed, not yet reaped: holds nothing
    assert stale(_lock(DEAD), HOST) is True
    assert stale(_lock(REUSED), HOST) is True  # its pid now runs something started later
    assert stale(_lock(DENIED), HOST) is False  # AccessDenied: it exists, so it may hold the lock
    assert stale(_lock(DENIED_STATUS), HOST) is False
    assert stale(_lock(VANISHING), HOST) is True
    assert stale(_lock(MISSING), HOST) is True
    assert stale({"hostname": HOST, "timestamp": "2025-03-04T10:00:00Z"}, HOST) is True  # no pid
    for pid in (ZOMBIE, REUSED, MISSING):  # another host's lock is never ours to judge
        assert stale(_lock(pid, host="ci-runner-7"), HOST) is False
    # Within the 2 s of slack a process started just after the timestamp still holds the lock.
    macos[REUSED].create_time = T + 1.5
    assert stale(_lock(REUSED), HOST) is False
    macos[REUSED].create_time = T + 2.5
    assert stale(_lock(REUSED), HOST) is True
    # A running process and no readable timestamp: it may hold the lock.
    assert stale(_lock(REUSED, timestamp="yesterday"), HOST) is False
    # A lock written with a local offset is compared as the same instant (10:00 and 10:00:01 UTC).
    assert stale(_lock(REUSED, timestamp="2025-03-04T11:00:00+01:00"), HOST) is True
    assert stale(_lock(REUSED, timestamp="2025-03-04T11:00:01+01:00"), HOST) is False


class FakeStack:
    name = "local"

    def __init__(self, locks: list[Path]) -> None:
        self.locks = locks
        self.cancelled = 0

    def cancel(self) -> None:
        self.cancelled += 1
        for path in self.locks:
            path.unlink()


def _write_locks(tmp_path: Path, *locks: dict[str, Any]) -> list[Path]:
    folder = tmp_path / ".pulumi" / "locks" / "organization" / PROJECT / "local"
    folder.mkdir(parents=True)
    paths = []
    for n, lock in enumerate(locks):
        path = folder / f"lock-{n}.json"
        path.write_text(json.dumps(lock))
        paths.append(path)
    return paths


def test_a_live_update_keeps_its_lock_on_macos(tmp_path: Path, macos: dict[int, Entry]) -> None:
    paths = _write_locks(tmp_path, _lock(HOLDER))
    handle = FakeStack(paths)
    recovery = Recovery()
    with pytest.raises(EngineError, match=f"locked by a running update \\(pid {HOLDER} on {HOST}\\)"):
        clear_stale_locks(handle, f"file://{tmp_path}", recovery)  # type: ignore[arg-type]
    assert handle.cancelled == 0
    assert all(path.exists() for path in paths)
    assert recovery.stale_locks == []


def test_the_lock_of_a_killed_update_is_cleared_on_macos(tmp_path: Path, macos: dict[int, Entry]) -> None:
    paths = _write_locks(tmp_path, _lock(ZOMBIE))
    handle = FakeStack(paths)
    recovery = Recovery()
    clear_stale_locks(handle, f"file://{tmp_path}", recovery)  # type: ignore[arg-type]
    assert handle.cancelled == 1
    assert not any(path.exists() for path in paths)
    assert recovery.stale_locks == [f"pid {ZOMBIE}, 2025-03-04T10:00:00.123456789Z"]


def test_cluster_records_on_macos(tmp_path: Path, macos: dict[int, Entry], monkeypatch: pytest.MonkeyPatch) -> None:
    signals: list[tuple[int, int]] = []

    def killpg(pgid: int, sig: int) -> None:
        signals.append((pgid, sig))
        if pgid == DENIED:
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "killpg", killpg)
    ours = processes.Record(HOLDER, T - 60, ["kwok"], T - 60)
    assert processes.is_running(ours) is True
    # The pid now runs a process started later: never ours to signal.
    recycled = processes.Record(REUSED, T - 60, ["kwok"], T - 60)
    assert processes.is_running(recycled) is False
    assert processes.stop(recycled, grace=0.1) is False
    assert processes.stop(processes.Record(ZOMBIE, T - 61, ["kwok"], T - 61), grace=0.1) is False
    assert signals == []
    # Not inspectable and not ours to signal: given up on at the first refusal.
    assert processes.stop(processes.Record(DENIED, T - 60, ["kwok"], T - 60), grace=5) is False
    assert signals == [(DENIED, signal.SIGTERM)]
    # The process group of HOLDER, less its zombie: psutil's pid list, no /proc.
    assert processes.group_members(HOLDER) == [HOLDER, REUSED, DENIED_STATUS]

    # A record keeps psutil's start time and reads back the same.
    path = tmp_path / "kwok.json"
    path.write_text(json.dumps({"pid": HOLDER, "start_time": T - 60, "argv": ["kwok"], "started_at": T - 60}) + "\n")
    assert processes.read(path) == ours
    # A record from before psutil (Linux clock ticks, an int) cannot be converted here: it
    # matches no process, so the process it names is left alone.
    path.write_text(json.dumps({"pid": HOLDER, "start_time": 123456, "argv": ["kwok"], "started_at": T - 60}))
    old = processes.read(path)
    assert old is not None and old.start_time == 123456.0
    assert processes.is_running(old) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="records in clock ticks were written on Linux only")
def test_a_record_in_clock_ticks_still_finds_its_process_on_linux(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        stat = Path(f"/proc/{child.pid}/stat").read_text()  # how the old records got it
        ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        path = tmp_path / "sleep.json"
        path.write_text(json.dumps({"pid": child.pid, "start_time": ticks, "argv": ["sleep"], "started_at": 1.0}))
        record = processes.read(path)
        assert record is not None
        assert record.start_time == pytest.approx(psutil.Process(child.pid).create_time(), abs=0.01)
        assert processes.is_running(record) is True
    finally:
        child.kill()
        child.wait()
    assert processes.is_running(record) is False


def test_a_real_child_before_and_after_it_is_reaped() -> None:
    before = time.time()
    child = subprocess.Popen(["sleep", "60"])
    try:
        started = liveness.process_start_time(child.pid)
        assert started is not None
        assert before - 2 <= started <= time.time() + 2  # seconds since the epoch, not ticks
        assert liveness.is_running(child.pid) is True
        assert liveness.is_running(child.pid, started) is True
        assert liveness.is_running(child.pid, started + 60) is False  # another process's start
        taken = dt.datetime.now(dt.UTC).isoformat()
        assert stale(_lock(child.pid, timestamp=taken), HOST) is False

        child.kill()
        deadline = time.monotonic() + 10
        while liveness.is_running(child.pid):
            assert time.monotonic() < deadline, "the killed child still runs"
            time.sleep(0.01)
        # Killed, not reaped: the pid is still taken, by a zombie that runs nothing.
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
        assert psutil.pid_exists(child.pid) is True
        assert liveness.process_start_time(child.pid) is None
        assert liveness.is_running(child.pid, started) is False
        assert stale(_lock(child.pid, timestamp=taken), HOST) is True
    finally:
        child.kill()
        assert child.wait() == -signal.SIGKILL
    # Reaped: no such process at all.
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(child.pid)
    assert liveness.process_start_time(child.pid) is None
    assert liveness.is_running(child.pid) is False
    assert stale(_lock(child.pid, timestamp=taken), HOST) is True
