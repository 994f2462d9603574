"""`azora render`: the whole stack as plain manifests, like `helm template` for the platform.

The real engine and the real Kubernetes provider run the real program with
`renderYamlToDirectory`, on a throwaway copy of the stack (no cluster, no real state), with the
policy pack enforced. Third-party charts are rendered too when their repositories answer:
`charts="auto"` probes each chart's repository (a few seconds at most, all at once) and leaves
out only the charts whose repository does not answer, naming each in `azora:skipCharts` (a list
of chart keys such as `releases.ingress-nginx`) and in the result. `helm.v3.Release` cannot
render (pulumi-kubernetes#1716): such releases are rendered through `helm.v4.Chart` instead,
which produces the same objects minus Helm's own bookkeeping.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import requests

from azora.config.load import read_stack_file, validate_raw
from azora.config.model import ChartSpec, StackConfig
from azora.engine import INSTALL_ROOT, ScratchStack, UpdateError, run_update
from azora.toolchain import Toolchain

ChartMode = Literal["auto", "render", "skip"]
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class SkippedChart:
    """A third-party chart the render leaves out, and why."""

    key: str
    """Where the stack configures it, as `remote_charts()` and `azora:skipCharts` name it."""
    spec: ChartSpec
    reason: str

    def describe(self) -> str:
        return f"{self.key} ({self.spec.chart} {self.spec.version} from {self.spec.repo}): {self.reason}"


@dataclass
class RenderResult:
    out_dir: Path
    files: list[Path]
    skipped_charts: list[SkippedChart] = field(default_factory=list)
    seconds: float = 0.0


class RenderError(UpdateError):
    """The stack cannot be rendered (the engine or the policy pack refused)."""


def _answers(url: str, method: str) -> int | None:
    """The HTTP status `url` answers with (body not read), or None when nothing answers in time."""
    try:
        with requests.request(method, url, timeout=PROBE_TIMEOUT, allow_redirects=True, stream=True) as response:
            return response.status_code
    except (OSError, requests.RequestException):
        return None


def repository_reachable(repo: str) -> bool:
    """Whether a chart repository answers now: a short probe, no chart download.

    `oci://host/path`: the registry's API root `https://host/v2/` answers (401 counts: the
    registry is there and wants a token). `https://` (or `http://`) repositories: their
    `index.yaml` is there (HEAD, or a GET whose body is not read when HEAD is refused).
    """
    parsed = urlparse(repo)
    if not parsed.hostname:
        return False
    if parsed.scheme == "oci":
        status = _answers(f"https://{parsed.netloc}/v2/", "GET")
        return status is not None and (status < 400 or status in (401, 403))
    if parsed.scheme not in ("https", "http"):
        return False
    index = f"{repo.rstrip('/')}/index.yaml"
    status = _answers(index, "HEAD")
    if status in (403, 405, 501):
        # Some servers refuse HEAD but serve GET.
        status = _answers(index, "GET")
    return status is not None and status < 400


def unreachable_charts(charts: Mapping[str, ChartSpec], probe: Callable[[str], bool] | None = None) -> list[str]:
    """The keys of `charts` whose repository does not answer. Each repository is probed once
    (several charts may share one), all of them at the same time, so this takes at most about
    one probe's timeout."""
    check = probe or repository_reachable
    repos = sorted({spec.repo for spec in charts.values() if spec.repo})
    if not repos:
        return []
    with ThreadPoolExecutor(max_workers=min(len(repos), 8)) as pool:
        answers = dict(zip(repos, pool.map(check, repos), strict=True))
    return [key for key, spec in charts.items() if spec.repo and not answers[spec.repo]]


def charts_to_skip(config: StackConfig, mode: ChartMode) -> tuple[bool | list[str], list[SkippedChart]]:
    """The `azora:skipCharts` value a render sets, and the charts it leaves out with why.

    render: none (even those the stack's own skipCharts names); skip: every chart (`true`);
    auto: those the stack's own skipCharts names plus those whose repository does not answer.
    """
    charts = config.remote_charts()
    if mode == "render":
        return False, []
    if mode == "skip":
        return True, [SkippedChart(key, spec, "--charts skip") for key, spec in charts.items()]
    reasons = {key: "azora:skipCharts of the stack" for key in charts if config.skips_chart(key)}
    to_probe = {key: spec for key, spec in charts.items() if key not in reasons}
    reasons.update(dict.fromkeys(unreachable_charts(to_probe), "repository not reachable"))
    skipped = [SkippedChart(key, spec, reasons[key]) for key, spec in charts.items() if key in reasons]
    if config.skip_charts is True:
        return True, skipped
    return ([chart.key for chart in skipped] if skipped else False), skipped


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
    project_dir: Path = INSTALL_ROOT,
) -> RenderResult:
    """Render `stack` of the project in `project_dir` into `out_dir`. Raises ConfigError (bad
    stack file) before any engine work, and RenderError (with the policy findings) when the
    engine or a policy refuses."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    raw, lines = read_stack_file(path)
    config = validate_raw(raw, path.name, lines)  # validate before touching anything
    if edit is not None:
        # Probe the charts the edited stack has (an edit may add, drop or repoint charts).
        edited = copy.deepcopy(raw)
        edit(edited)
        config = validate_raw(edited, path.name)
    skip_charts, skipped = charts_to_skip(config, charts)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear(out_dir)

    def configure(azora: dict[str, Any]) -> None:
        if edit is not None:
            edit(azora)
        azora["renderDir"] = str(out_dir)
        azora["skipCharts"] = skip_charts

    started = time.monotonic()
    with ScratchStack(stack, toolchain, edit=configure, program_dir=project_dir) as scratch:
        try:
            run_update(scratch.handle, stack, f"azora render {stack}", on_output=progress)
        except UpdateError as exc:
            raise RenderError(str(exc), exc.findings) from None
    files = sorted(p for p in out_dir.rglob("*.yaml"))
    return RenderResult(out_dir, files, skipped, time.monotonic() - started)
