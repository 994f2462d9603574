"""actionlint, the GitHub Actions workflow linter, built from its Go module and cached.

No prebuilt binary is downloaded: ``go install`` builds the pinned release from the Go module
proxy into a versioned directory of azora's cache (the one ``azora tools install`` uses), through
the same Go builder as the Pulumi toolchain (``azora.toolchain.gobuild``)::

    $AZORA_CACHE_DIR | $XDG_CACHE_HOME/azora | ~/.cache/azora
      tools/actionlint-<version>/actionlint    the binary
      tools/actionlint-<version>/build.json    what built it and in how long

The first build takes about half a minute (module downloads included); afterwards
``ensure_actionlint()`` only checks that the file exists and never runs Go.
``AZORA_ACTIONLINT=/path/to/actionlint`` uses that binary instead (no build, no version check).

actionlint also runs ``shellcheck`` on every ``run:`` block (and ``pyflakes`` on Python ones)
when they are on PATH, so the same workflow can pass on one machine and not on another:
install Debian's ``shellcheck`` to see what CI sees.

``python -m azora.actionlint [ARGS...]`` builds it if needed and runs it (default: on
``.github/workflows/*.yml``); ``python -m azora.actionlint --path`` prints the binary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from azora.toolchain.errors import ToolchainError
from azora.toolchain.gobuild import find_go, go_install, go_install_env, go_satisfies, go_version, is_executable, locked
from azora.toolchain.paths import REPO_ROOT, cache_root

#: The pinned release. Served by the Go module proxy this project reaches (checked with
#: ``go list -m -json github.com/rhysd/actionlint@v1.7.12``; v1.7.13+ are refused there).
VERSION = "1.7.12"
MODULE = "github.com/rhysd/actionlint"
PACKAGE = f"{MODULE}/cmd/actionlint"
#: actionlint 1.7.12's go.mod declares ``go 1.25.0``; with GOTOOLCHAIN=local an older Go fails.
GO_MINIMUM = "1.25.0"
OVERRIDE_ENV = "AZORA_ACTIONLINT"
BUILD_TIMEOUT_SECONDS = 15 * 60

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"


class ActionlintError(RuntimeError):
    """actionlint cannot be found or built; the message says why and what to do."""


class GoMissingError(ActionlintError):
    """There is no (recent enough) Go to build actionlint with."""


def tool_dir(env: Mapping[str, str] | None = None) -> Path:
    """``<cache root>/tools/actionlint-<VERSION>``."""
    return cache_root(env) / "tools" / f"actionlint-{VERSION}"


def binary_path(env: Mapping[str, str] | None = None) -> Path:
    return tool_dir(env) / "actionlint"


def find_actionlint(env: Mapping[str, str] | None = None) -> Path | None:
    """The binary if it is already there ($AZORA_ACTIONLINT, else the cache); never builds."""
    env = os.environ if env is None else env
    override = env.get(OVERRIDE_ENV)
    if override:
        path = Path(override).expanduser()
        if not is_executable(path):
            raise ActionlintError(f"${OVERRIDE_ENV} is {override!r}, which is not an executable file")
        return path
    path = binary_path(env)
    return path if is_executable(path) else None


def ensure_actionlint(env: Mapping[str, str] | None = None) -> Path:
    """The actionlint binary, built with ``go install`` on the first call.

    Idempotent: a cache hit returns at once without invoking Go. Concurrent callers (parallel
    test workers, two terminals) wait for one build. Raises ``GoMissingError`` when Go is
    missing or too old, ``ActionlintError`` when the build fails (with the tail of go's output).
    """
    env = dict(os.environ if env is None else env)
    found = find_actionlint(env)
    if found is not None:
        return found
    go = _require_go()
    target_dir = tool_dir(env)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    with locked(target_dir.parent / f".actionlint-{VERSION}.lock"):
        found = find_actionlint(env)  # built by whoever held the lock
        if found is not None:
            return found
        return _build(go, target_dir, env)


def _require_go() -> Path:
    go = find_go()
    if go is None:
        raise GoMissingError(
            f"Go is not installed: actionlint {VERSION} is built from its Go module "
            f"({PACKAGE}) and needs Go {GO_MINIMUM} or newer. Install Go "
            f"(https://go.dev/dl/, or put /usr/local/go/bin on PATH), or point ${OVERRIDE_ENV} "
            "at an actionlint binary."
        )
    version = go_version(go)
    if not go_satisfies(version, GO_MINIMUM):
        raise GoMissingError(
            f"Go at {go} is {version or 'unusable'}; actionlint {VERSION} needs Go {GO_MINIMUM} or newer. "
            f"Install a newer Go, or point ${OVERRIDE_ENV} at an actionlint binary."
        )
    return go


#: Environment for ``go install`` (kept under its old name; see ``go_install_env``).
build_env = go_install_env


def _build(go: Path, target_dir: Path, env: Mapping[str, str]) -> Path:
    """``go install`` the pinned release into ``target_dir`` with the shared Go builder."""
    try:
        return go_install(
            go,
            PACKAGE,
            f"v{VERSION}",
            target_dir,
            binary="actionlint",
            base_env=env,
            timeout=BUILD_TIMEOUT_SECONDS,
            label=f"actionlint {VERSION}",
            hint=f"The Go module proxy must serve this version (go list -m -json {MODULE}@v{VERSION}).",
            record={"version": VERSION, "package": PACKAGE, "go": go_version(go)},
        )
    except ToolchainError as exc:
        raise ActionlintError(str(exc)) from None


def workflow_files(root: Path = WORKFLOWS_DIR) -> list[Path]:
    return sorted([*root.glob("*.yml"), *root.glob("*.yaml")])


def run_actionlint(
    files: Sequence[Path | str] | None = None, *, extra_args: Sequence[str] = (), cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run actionlint (building it if needed) on ``files`` (default: the repo's workflows)."""
    binary = ensure_actionlint()
    targets = [str(f) for f in (workflow_files() if files is None else files)]
    return subprocess.run(
        [str(binary), "-no-color", *extra_args, *targets], cwd=cwd, capture_output=True, text=True, check=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args == ["--path"]:
            print(ensure_actionlint())
            return 0
        binary = ensure_actionlint()
    except ActionlintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not any(not a.startswith("-") for a in args):
        args += [str(p.relative_to(REPO_ROOT)) for p in workflow_files()]
    return subprocess.run([str(binary), *args], cwd=REPO_ROOT, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
