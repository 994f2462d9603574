"""Building one piece of the toolchain with the Go builder.

For a piece from an upstream module, azora generates a wrapper module that requires
it and mirrors its ``replace`` directives (``wrapper_gomod``), copies the committed
go.sum (``toolchain/sums/<piece>.sum``), runs ``go mod tidy``, the piece's generate
steps and ``go build`` for each binary; a local module under ``toolchain/`` is copied
and built the same way; plain module files are copied out of the module cache. The
output lands in ``<toolchain dir>/bin`` or ``plugins`` and a stamp records the build
(``azora.toolchain.stamps``). Each build logs to ``<toolchain dir>/logs/<piece>.log``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from azora.toolchain.catalog import DROP, Generate, Piece
from azora.toolchain.errors import ToolchainError
from azora.toolchain.gobuild import (
    StepRunner,
    format_seconds,
    go_build,
    go_env,
    go_mod_download,
    install_file,
    make_writable,
    step_runner,
)
from azora.toolchain.paths import TOOLCHAIN_SRC
from azora.toolchain.stamps import output_path, write_stamp


def sums_file(piece: Piece) -> Path:
    """Committed go.sum for a generated wrapper module, so builds verify module
    hashes without the checksum database (the reachable proxy does not serve it for
    most of these modules)."""
    return TOOLCHAIN_SRC / "sums" / f"{piece.name}.sum"


def build_piece(piece: Piece, root: Path, go: Path, console: Console) -> None:
    """Build ``piece`` into the toolchain directory ``root`` and stamp it."""
    started = time.monotonic()
    label = f"{piece.name} {piece.version_label}"
    with step_runner(console, root / "logs" / f"{piece.name}.log", label, f"{label} ({piece.summary})") as runner:
        if piece.files:
            _copy_module_files(piece, root, go, runner)
        if piece.binaries:
            _compile(piece, root, go, runner)
    seconds = time.monotonic() - started
    write_stamp(root, piece, seconds)
    console.print(f"[green]✓[/] {escape(label)} ({piece.summary}) built in {format_seconds(seconds)}")


def _copy_module_files(piece: Piece, root: Path, go: Path, runner: StepRunner) -> None:
    assert piece.module and piece.version
    info = go_mod_download(piece.module, piece.version, go, runner, root)
    for item in piece.files:
        source = Path(info["Dir"]) / item.path
        if not source.is_file():
            raise ToolchainError(f"{piece.module}@{piece.version} has no file {item.path}")
        install_file(source, output_path(root, piece, item.output))


def _compile(piece: Piece, root: Path, go: Path, runner: StepRunner) -> None:
    workdir = root / "build" / piece.name
    if workdir.exists():
        make_writable(workdir)
        shutil.rmtree(workdir)
    if piece.local:
        shutil.copytree(TOOLCHAIN_SRC / piece.local, workdir)
    else:
        workdir.mkdir(parents=True)
        _write_wrapper(piece, workdir, go, runner)
    if sums_file(piece).exists() and not (workdir / "go.sum").exists():
        shutil.copyfile(sums_file(piece), workdir / "go.sum")
    env = go_env()
    runner.run([str(go), "mod", "tidy"], workdir, env, "resolve modules (go mod tidy)")
    for step in piece.generate:
        _run_generate(step, workdir, go, runner)
    for binary in piece.binaries:
        target = output_path(root, piece, binary.output)
        go_build(go, runner, workdir, env, binary.package, target, binary.xflags, binary.tags)


def _write_wrapper(piece: Piece, workdir: Path, go: Path, runner: StepRunner) -> None:
    """A module that requires ``piece.module`` and mirrors its replace directives."""
    assert piece.module and piece.version
    info = go_mod_download(piece.module, piece.version, go, runner, workdir)
    upstream = json.loads(
        runner.run([str(go), "mod", "edit", "-json", info["GoMod"]], workdir, go_env(), "read upstream go.mod")
    )
    gomod = wrapper_gomod(piece, upstream.get("Replace") or [], upstream.get("Go") or "1.22")
    (workdir / "go.mod").write_text(gomod)
    packages = [b.package for b in piece.binaries if not b.package.startswith(".")]
    if piece.copy_dir:
        source = Path(info["Dir"]) / piece.copy_dir
        shutil.copytree(source, workdir / "gen")
        make_writable(workdir / "gen")
    # Blank imports keep `go mod tidy` from dropping the requirement we build from.
    imports = "\n".join(f'import _ "{p}"' for p in packages)
    (workdir / "tools.go").write_text(
        f"//go:build tools\n\n// Package wrapper only pins the module azora builds.\npackage wrapper\n\n{imports}\n"
    )


def wrapper_gomod(piece: Piece, replaces: Sequence[Mapping[str, Mapping[str, str]]], go_directive: str) -> str:
    """go.mod text for a piece's wrapper module.

    ``replaces`` are the upstream module's replace directives as ``go mod edit -json``
    reports them. Replacements by another module version are copied as they are;
    replacements by a directory of the same repository (``=> ../sdk``) cannot be
    followed outside that repository, so they become the published version named in
    ``piece.siblings`` (exact module paths or globs such as ``k8s.io/*``; the value
    ``DROP`` omits the replace).
    """
    assert piece.module and piece.version
    lines = [
        f"// Generated by azora's toolchain build for {piece.name}; do not edit.",
        f"module azora.local/toolchain-build/{piece.name}",
        "",
        f"go {go_directive}",
        "",
        f"require {piece.module} {piece.version}",
        "",
    ]
    for rep in replaces:
        old, new = rep["Old"], rep["New"]
        old_spec = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
        sibling = sibling_version(piece, old["Path"])
        if new.get("Version"):
            lines.append(f"replace {old_spec} => {new['Path']} {new['Version']}")
        elif sibling == DROP:
            continue
        elif sibling is not None:
            lines.append(f"replace {old_spec} => {old['Path']} {sibling}")
        else:
            raise ToolchainError(
                f"{piece.module}@{piece.version} replaces {old['Path']} with the directory "
                f"{new['Path']}; add the published version to use for it to the piece's siblings"
            )
    return "\n".join(lines) + "\n"


def sibling_version(piece: Piece, module: str) -> str | None:
    """The published version to use for a directory replace of ``module``: an exact
    ``siblings`` entry wins over a glob (``k8s.io/*``); None if neither matches."""
    exact = dict(piece.siblings)
    if module in exact:
        return exact[module]
    for pattern, version in piece.siblings:
        if fnmatch.fnmatchcase(module, pattern):
            return version
    return None


def _run_generate(step: Generate, workdir: Path, go: Path, runner: StepRunner) -> None:
    tool = workdir / ".generate-tool"
    runner.run([str(go), "build", "-o", str(tool), step.program], workdir, go_env(), f"build generator {step.program}")
    env = dict(os.environ)
    env.update(dict(step.env))
    runner.run([str(tool), *step.args], workdir / step.workdir, env, f"generate ({step.program})")
    tool.unlink()
    for source, target in step.copies:
        shutil.copyfile(workdir / source, workdir / target)
