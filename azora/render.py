"""`azora render`: the whole stack as plain manifests, like `helm template` for the platform.

The real engine and the real Kubernetes provider run the real program with
`renderYamlToDirectory`, on a throwaway copy of the stack (no cluster, no real state), with the
policy pack enforced. Third-party charts are rendered too when their repositories answer;
`charts="auto"` leaves them out, with a warning naming them, when the network does not reach
them. `helm.v3.Release` cannot render (pulumi-kubernetes#1716): such releases are rendered
through `helm.v4.Chart` instead, which produces the same objects minus Helm's own bookkeeping.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import requests

from azora.config.load import load_stack_file
from azora.config.model import ChartSpec
from azora.engine import ROOT, ScratchStack, UpdateError, run_update
from azora.toolchain import Toolchain

ChartMode = Literal["auto", "render", "skip"]
PROBE_TIMEOUT = 3.0


@dataclass
class RenderResult:
    out_dir: Path
    files: list[Path]
    skipped_charts: list[str] = field(default_factory=list)
    seconds: float = 0.0


class RenderError(UpdateError):
    """The stack cannot be rendered (the engine or the policy pack refused)."""


def chart_reachable(spec: ChartSpec) -> bool:
    """Whether the chart's repository answers now (a short probe, no download)."""
    repo = spec.repo or ""
    try:
        if repo.startswith("oci://"):
            host = urlparse(repo).hostname or ""
            with socket.create_connection((host, 443), timeout=PROBE_TIMEOUT):
                return True
        response = requests.head(f"{repo.rstrip('/')}/index.yaml", timeout=PROBE_TIMEOUT, allow_redirects=True)
        return response.status_code < 400
    except (OSError, requests.RequestException):
        return False


def unreachable_charts(stack: str) -> list[str]:
    config = load_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    return [
        f"{where} ({spec.chart} {spec.version})"
        for where, spec in config.remote_charts().items()
        if not chart_reachable(spec)
    ]


def _clear(out_dir: Path) -> None:
    # The provider writes 0-crd/ and 1-manifest/; stale files from an earlier render must go.
    for sub in ("0-crd", "1-manifest"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)


def render(
    stack: str,
    out_dir: Path,
    toolchain: Toolchain,
    charts: ChartMode = "auto",
    edit: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> RenderResult:
    """Render `stack` into `out_dir`. Raises ConfigError (bad stack file) before any engine
    work, and RenderError (with the policy findings) when the engine or a policy refuses."""
    load_stack_file(ROOT / f"Pulumi.{stack}.yaml")  # validate before touching anything
    skipped: list[str] = []
    if charts == "skip":
        skipped = ["every third-party chart (--charts skip)"]
    elif charts == "auto":
        skipped = unreachable_charts(stack)
    skip = bool(skipped)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear(out_dir)

    def configure(azora: dict[str, Any]) -> None:
        if edit is not None:
            edit(azora)
        azora["renderDir"] = str(out_dir)
        if skip:
            azora["skipCharts"] = True

    started = time.monotonic()
    with ScratchStack(stack, toolchain, edit=configure) as scratch:
        try:
            run_update(scratch.handle, stack, f"azora render {stack}", progress)
        except UpdateError as exc:
            raise RenderError(str(exc), exc.findings) from None
    files = sorted(p for p in out_dir.rglob("*.yaml"))
    return RenderResult(out_dir, files, skipped, time.monotonic() - started)
