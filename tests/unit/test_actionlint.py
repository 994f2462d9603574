"""`azora.actionlint`: how the workflow tests get actionlint (the pinned module built with Go
into azora's cache, a cached binary used without Go, an override that must be an executable),
and what it says when Go is missing or too old.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from azora import actionlint


def test_a_cached_actionlint_is_used_without_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AZORA_CACHE_DIR": str(tmp_path)}
    binary = actionlint.binary_path(env)
    assert binary == tmp_path / "tools" / f"actionlint-{actionlint.VERSION}" / "actionlint"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)

    def no_go(*args: object, **kwargs: object) -> None:
        raise AssertionError("Go must not run on a cache hit")

    monkeypatch.setattr(actionlint, "find_go", no_go)
    monkeypatch.setattr(actionlint.subprocess, "run", no_go)
    assert actionlint.ensure_actionlint(env) == binary
    assert actionlint.ensure_actionlint(env) == binary


def test_missing_go_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actionlint, "find_go", lambda: None)
    with pytest.raises(actionlint.GoMissingError, match="Go is not installed"):
        actionlint.ensure_actionlint({"AZORA_CACHE_DIR": str(tmp_path)})


def test_too_old_go_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actionlint, "find_go", lambda: Path("/usr/bin/go"))
    monkeypatch.setattr(actionlint, "go_version", lambda go: "go1.19.8")
    with pytest.raises(actionlint.GoMissingError, match=r"go1\.19\.8; actionlint .* needs Go 1\.25\.0"):
        actionlint.ensure_actionlint({"AZORA_CACHE_DIR": str(tmp_path)})


def test_the_build_installs_the_pinned_module_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_go(argv: list[str], *, cwd: Path, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append((argv, env))
        built = Path(env["GOBIN"]) / "actionlint"
        built.write_text("#!/bin/sh\n")
        built.chmod(0o755)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(actionlint, "find_go", lambda: Path("/usr/local/go/bin/go"))
    monkeypatch.setattr(actionlint, "go_version", lambda go: "go1.26.8")
    monkeypatch.setattr(actionlint.subprocess, "run", fake_go)
    env = {"AZORA_CACHE_DIR": str(tmp_path), "GOFLAGS": "-mod=mod -buildvcs=false", "PATH": "/usr/bin"}
    path = actionlint.ensure_actionlint(env)
    assert path == actionlint.binary_path(env) and os.access(path, os.X_OK)
    assert actionlint.ensure_actionlint(env) == path
    (argv, go_env) = calls[0]
    assert len(calls) == 1
    assert argv[1:] == ["install", f"github.com/rhysd/actionlint/cmd/actionlint@v{actionlint.VERSION}"]
    assert go_env["GOTOOLCHAIN"] == "local" and go_env["GOFLAGS"] == "-buildvcs=false"
    assert '"seconds"' in (path.parent / "build.json").read_text()
    assert [p.name for p in (tmp_path / "tools").iterdir() if not p.name.endswith(".lock")] == [path.parent.name]


def test_the_override_must_be_an_executable(tmp_path: Path) -> None:
    with pytest.raises(actionlint.ActionlintError, match="AZORA_ACTIONLINT"):
        actionlint.find_actionlint({"AZORA_ACTIONLINT": str(tmp_path / "nope")})
