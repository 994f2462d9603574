"""The generic Go builder: everything azora does with the machine's ``go``.

Used by the Pulumi toolchain build (``azora.toolchain.build``) and by actionlint
(``azora.actionlint``); nothing here knows about Pulumi pieces.

* finding ``go`` and checking its version (``find_go``, ``go_version``, ``go_satisfies``);
* the environment go runs in: ``go_env`` for builds of wrapper modules (GOFLAGS
  ``-mod=mod``, GOSUMDB off), ``go_install_env`` for ``go install pkg@version`` (its
  own GOBIN, no ``-mod=``); both with GOTOOLCHAIN=local and CGO_ENABLED=0;
* the free-space check before a cold build and one build per cache directory at a
  time (``check_disk``, ``locked``);
* running go with a live one-line status and a full log (``StepRunner``,
  ``step_runner``) for ``go mod download`` and ``go build`` (``go_mod_download``,
  ``go_build``), and ``go install`` into a cache directory atomically (``go_install``).

Every failure is a ``ToolchainError`` whose message ends with the tail of go's output.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from azora.toolchain.errors import ToolchainError
from azora.toolchain.pins import parse_version

#: Free space a cold build of the Pulumi set needs (measured: Go module cache 4.1 GB,
#: Go build cache 7.5 GB, toolchain 0.35 GB, installed plugins 0.2 GB).
MIN_FREE_BYTES = 13 * 1024**3
#: Lines of go output kept for an error message when a step fails.
ERROR_TAIL_LINES = 25


def run_quiet(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60) -> str | None:
    """stdout of a short command, or None if it cannot run or fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=None if env is None else dict(env)
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


# --------------------------------------------------------------------------- go itself


def find_go() -> Path | None:
    """The machine's ``go``: on PATH, else the standard /usr/local/go."""
    found = shutil.which("go")
    if found:
        return Path(found)
    default = Path("/usr/local/go/bin/go")
    return default if default.exists() else None


def go_version(go: Path) -> str | None:
    out = run_quiet([str(go), "env", "GOVERSION"])
    return out.strip() if out else None


def go_satisfies(version: str | None, minimum: str) -> bool:
    """True when ``version`` (``go env GOVERSION``, e.g. ``go1.26.8``) is ``minimum`` or
    newer; False for None or anything unparsable."""
    try:
        return version is not None and parse_version(version) >= parse_version(minimum)
    except ValueError:
        return False


def go_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for go commands in a build.

    * ``GOFLAGS=-mod=mod``: wrapper modules gain requirements as packages need them;
    * ``GOSUMDB=off``: the reachable proxy does not serve the checksum database for
      most of these modules; hashes are still checked against the committed go.sum;
    * ``GOTOOLCHAIN=local``: never fetch another Go release;
    * ``CGO_ENABLED=0``: static binaries, no C compiler needed.
    """
    env = dict(os.environ if base is None else base)
    env.update(GOFLAGS="-mod=mod -buildvcs=false", GOSUMDB="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


def go_install_env(base: Mapping[str, str], gobin: Path) -> dict[str, str]:
    """Environment for ``go install``: our GOBIN, the machine's Go only, a static binary.

    A ``-mod=`` in an inherited GOFLAGS is dropped: it means nothing for ``pkg@version``.
    """
    env = dict(base)
    flags = [f for f in env.get("GOFLAGS", "").split() if not f.startswith("-mod=")]
    env.update(GOBIN=str(gobin), GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS=" ".join(flags))
    return env


# --------------------------------------------------------------------------- files and locks


def check_disk(root: Path, min_free: int = MIN_FREE_BYTES) -> None:
    free = shutil.disk_usage(root).free
    if free < min_free:
        raise ToolchainError(
            f"only {free / 1024**3:.1f} GB free at {root}; building the toolchain needs about "
            f"{min_free / 1024**3:.0f} GB (Go module and build caches). Free some space or set "
            "AZORA_CACHE_DIR to a larger disk."
        )


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """One build per cache directory at a time (parallel CI jobs, test workers, two
    terminals): an exclusive flock on ``lock_file``."""
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def install_file(source: Path, target: Path) -> None:
    """Copy atomically (a running pulumi may be executing the old file) and make it
    executable."""
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temp)
    temp.chmod(0o755)
    temp.replace(target)


def make_writable(path: Path) -> None:
    """Module cache copies are read-only; make a tree deletable."""
    for item in [path, *path.rglob("*")]:
        if not item.is_symlink():
            item.chmod(item.stat().st_mode | 0o700)


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# --------------------------------------------------------------------------- running go with progress


class StepRunner:
    """Runs the commands of one piece, streaming their output to its log file and to
    a one-line live status (or, without a terminal, a heartbeat every minute)."""

    def __init__(self, console: Console, log: IO[str], progress: Progress, task: TaskID, label: str):
        self.console, self.log, self.progress, self.task, self.label = console, log, progress, task, label
        self.tail: list[str] = []
        self.lines = 0

    def run(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], what: str) -> str:
        """Run a command; return its stdout+stderr; raise ToolchainError on failure."""
        self.log.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n")
        self.log.flush()
        self.progress.update(self.task, status=what)
        started = last_beat = time.monotonic()
        output: list[str] = []
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.write(line)
            output.append(line)
            self.lines += 1
            self.tail = (self.tail + [line.rstrip()])[-ERROR_TAIL_LINES:]
            self.progress.update(self.task, status=f"{what}: {line.strip()[-60:]}")
            if not self.console.is_terminal and time.monotonic() - last_beat > 60:
                last_beat = time.monotonic()
                elapsed = int(time.monotonic() - started)
                self.console.print(f"  … {self.label}: {what}, {elapsed // 60}m{elapsed % 60:02d}s")
        code = proc.wait()
        self.log.flush()
        if code != 0:
            tail = "\n".join(self.tail[-ERROR_TAIL_LINES:])
            raise ToolchainError(
                f"building {self.label} failed while trying to {what} (exit {code}); full log: {self.log.name}\n{tail}"
            )
        return "".join(output)


@contextlib.contextmanager
def step_runner(console: Console, log_path: Path, label: str, description: str) -> Iterator[StepRunner]:
    """A ``StepRunner`` for ``label`` that logs to ``log_path`` (overwritten) and shows
    ``description`` with a spinner, the elapsed time and the latest output line."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[status]}"),
    )
    with (
        open(log_path, "w") as log,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        task = progress.add_task(description, status="starting")
        yield StepRunner(console, log, progress, task, label)


def go_mod_download(module: str, version: str, go: Path, runner: StepRunner, cwd: Path) -> dict[str, str]:
    """``go mod download -json`` of one module version: its Dir and GoMod paths."""
    out = runner.run(
        [str(go), "mod", "download", "-json", f"{module}@{version}"], cwd, go_env(), f"download {module}@{version}"
    )
    try:
        info = json.loads(out[out.index("{") :])
    except ValueError:
        raise ToolchainError(f"unexpected output from go mod download for {module}@{version}") from None
    if info.get("Error"):
        raise ToolchainError(
            f"the Go module proxy does not provide {module}@{version}: {info['Error']}\n"
            "The pins in toolchain/pins.toml name versions known to be served; check GOPROXY."
        )
    return info


def go_build(
    go: Path,
    runner: StepRunner,
    workdir: Path,
    env: Mapping[str, str],
    package: str,
    target: Path,
    xflags: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> None:
    """``go build`` ``package`` in the module at ``workdir`` into ``target``: stripped,
    trimmed paths, ``-X`` settings from ``xflags``, build ``tags``; written next to the
    target first and renamed, so a running copy is never overwritten in place."""
    temp = target.with_name(f".{target.name}.tmp")
    ldflags = " ".join(["-s", "-w", *(f"-X {x}" for x in xflags)])
    tagging = ["-tags", ",".join(tags)] if tags else []
    runner.run(
        [str(go), "build", "-v", "-trimpath", *tagging, "-ldflags", ldflags, "-o", str(temp), package],
        workdir,
        env,
        f"compile {target.name}",
    )
    temp.replace(target)


# --------------------------------------------------------------------------- go install


def go_install(
    go: Path,
    package: str,
    version: str,
    target_dir: Path,
    *,
    binary: str,
    base_env: Mapping[str, str],
    timeout: int,
    label: str,
    hint: str = "",
    record: Mapping[str, object] | None = None,
) -> Path:
    """``go install package@version`` into ``target_dir``; returns the path of ``binary`` in it.

    Builds into a scratch GOBIN next to the target, then renames it: a killed build never
    leaves a half-written binary where a cache check would take it for a finished one.
    ``target_dir/build.json`` records ``record`` plus the build time. Raises
    ``ToolchainError`` after ``timeout`` seconds or when go fails (with the tail of its
    output, then ``hint``). Callers hold ``locked`` around the check-then-build.
    """
    scratch = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}-", dir=target_dir.parent))
    argv = [str(go), "install", f"{package}@{version}"]
    started = time.monotonic()
    try:
        try:
            done = subprocess.run(
                argv,
                cwd=scratch,
                env=go_install_env(base_env, scratch),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"`{' '.join(argv)}` did not finish in {timeout // 60} minutes") from None
        seconds = time.monotonic() - started
        built = scratch / binary
        if done.returncode != 0 or not is_executable(built):
            tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-ERROR_TAIL_LINES:])
            raise ToolchainError(
                f"building {label} failed: `{' '.join(argv)}` exited {done.returncode}\n{tail}"
                + (f"\n{hint}" if hint else "")
            )
        stamp = {
            **(record or {}),
            "seconds": round(seconds, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (scratch / "build.json").write_text(json.dumps(stamp, indent=2) + "\n")
        scratch.chmod(0o755)  # mkdtemp makes it 0700
        if target_dir.exists():  # a stale, incomplete directory (no usable binary in it)
            shutil.rmtree(target_dir)
        scratch.rename(target_dir)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target_dir / binary
