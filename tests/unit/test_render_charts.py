"""`azora:skipCharts` as a list of chart keys, and how `azora render --charts auto` fills it:
the model, the program under mocks, the per-chart probe decision (no network anywhere)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

import azora.render as render_module
from azora.config.errors import ConfigError
from azora.config.load import decode_config_value, load_stack_file, read_stack_file, validate_raw
from azora.config.model import StackConfig
from azora.render import SkippedChart, charts_to_skip, render, repository_reachable, unreachable_charts
from tests.conftest import mocked_stack
from tests.mocked_program import ProgramRun, run_program

ROOT = Path(__file__).resolve().parents[2]
HELM_TYPES = ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release")
STAGING_CHARTS = [
    "releases.ingress-nginx",
    "releases.cert-manager",
    "postgresql.chart",
    "redis.chart",
    "monitoring.prometheus.chart",
    "monitoring.tracing.chart",
]
JETSTACK = "https://charts.jetstack.io"
BITNAMI = "oci://registry-1.docker.io/bitnamicharts"


def staging_raw() -> dict[str, Any]:
    raw, _ = read_stack_file(ROOT / "Pulumi.staging.yaml")
    return copy.deepcopy(raw)


def staging_with(skip: Any) -> StackConfig:
    raw = staging_raw()
    raw["skipCharts"] = skip
    return validate_raw(raw, "Pulumi.staging.yaml")


def problems_with(skip: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        staging_with(skip)
    return str(caught.value).splitlines()


# ----------------------------------------------------------------------------- the model


def test_the_chart_keys_are_those_of_remote_charts() -> None:
    assert list(load_stack_file(ROOT / "Pulumi.staging.yaml").remote_charts()) == STAGING_CHARTS


def test_a_list_leaves_out_only_the_charts_it_names() -> None:
    config = staging_with(["releases.ingress-nginx", "monitoring.prometheus.chart"])
    assert config.skip_charts == ["releases.ingress-nginx", "monitoring.prometheus.chart"]
    assert [key for key in STAGING_CHARTS if config.skips_chart(key)] == [
        "releases.ingress-nginx",
        "monitoring.prometheus.chart",
    ]


@pytest.mark.parametrize(
    ("value", "skips_all"),
    [(True, True), (False, False), ("true", True), ("false", False), ("True", True), ([], False)],
)
def test_the_bool_still_works(value: Any, skips_all: bool) -> None:
    config = staging_with(value)
    assert [config.skips_chart(key) for key in STAGING_CHARTS] == [skips_all] * len(STAGING_CHARTS)


def test_the_default_leaves_nothing_out() -> None:
    config = load_stack_file(ROOT / "Pulumi.staging.yaml")
    assert config.skip_charts is False
    assert not any(config.skips_chart(key) for key in STAGING_CHARTS)


def test_a_list_arriving_from_the_engine_as_json_text_is_decoded() -> None:
    # The engine passes structured config to the program as JSON text.
    text = json.dumps(["redis.chart"])
    assert staging_with(decode_config_value("skipCharts", text)).skip_charts == ["redis.chart"]


def test_an_unknown_chart_key_is_named_with_its_key_path() -> None:
    # Staging turns logs off, so it has no monitoring.logs.chart to leave out.
    problems = problems_with(["releases.ingress-nginx", "monitoring.logs.chart", "releases.nginx"])
    assert len(problems) == 2
    assert problems[0].startswith(
        "Pulumi.staging.yaml: azora:skipCharts[1]: 'monitoring.logs.chart' is not a chart this stack "
        "fetches from a repository (known: releases.ingress-nginx, releases.cert-manager,"
    )
    assert problems[1].startswith("Pulumi.staging.yaml: azora:skipCharts[2]: 'releases.nginx' is not a chart")


def test_wrong_shapes_are_rejected_with_their_key_path() -> None:
    assert problems_with(["redis.chart", 3]) == [
        "Pulumi.staging.yaml: azora:skipCharts[1]: must be a chart key (a string), got 3"
    ]
    assert problems_with("yes") == [
        "Pulumi.staging.yaml: azora:skipCharts: must be true, false or a list of chart keys, got 'yes'"
    ]
    assert problems_with({"redis": True}) == [
        "Pulumi.staging.yaml: azora:skipCharts: must be true, false or a list of chart keys, got a mapping"
    ]
    assert problems_with(["redis.chart", "redis.chart"]) == [
        "Pulumi.staging.yaml: azora:skipCharts[1]: 'redis.chart' is listed twice"
    ]


# ----------------------------------------------------------------------------- the program under mocks


def _helm_objects(run: ProgramRun) -> set[str]:
    return {r.name for r in run.resources if r.type in HELM_TYPES}


def _skipping(keys: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["skipCharts"] = keys

    return edit


def test_the_unedited_staging_stack_registers_every_chart() -> None:
    assert _helm_objects(mocked_stack("staging")) == {
        "ingress-nginx-chart",
        "cert-manager-release",
        "postgresql-chart",
        "redis-chart",
        "monitoring-prometheus-chart",
        "monitoring-otel-chart",
    }


def test_a_staging_stack_leaves_out_only_the_listed_charts() -> None:
    run = run_program("staging", _skipping(["monitoring.tracing.chart", "releases.cert-manager", "redis.chart"]))
    assert run.error is None, run.error
    full = mocked_stack("staging")
    assert _helm_objects(run) == _helm_objects(full) - {"monitoring-otel-chart", "cert-manager-release", "redis-chart"}
    # The components stay (the warning hangs off them); everything but the charts is unchanged.
    others = {(r.type, r.name) for r in full.resources if r.type not in HELM_TYPES}
    assert {(r.type, r.name) for r in run.resources if r.type not in HELM_TYPES} == others
    assert run.named("azora:helm:HelmRelease", "redis").inputs == {}


def test_skip_charts_true_still_leaves_out_every_chart() -> None:
    run = run_program("staging", _skipping(True))
    assert run.error is None, run.error
    assert _helm_objects(run) == set()
    assert len(run.of_type("azora:helm:HelmRelease")) == 6


def test_the_program_rejects_an_unknown_chart_key() -> None:
    run = run_program("staging", _skipping(["monitoring.logs.chart"]))
    assert run.error is not None
    assert "azora:skipCharts[0]: 'monitoring.logs.chart' is not a chart" in str(run.error)


# ----------------------------------------------------------------------------- render's per-chart decision


class Probe:
    """Stands in for repository_reachable: a fixed set of repositories does not answer."""

    def __init__(self, down: set[str]):
        self.down = down
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, repo: str) -> bool:
        with self._lock:
            self.asked.append(repo)
        return repo not in self.down


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    fake = Probe(set())
    monkeypatch.setattr(render_module, "repository_reachable", fake)
    yield fake


def test_auto_leaves_out_only_the_charts_whose_repository_does_not_answer(probe: Probe) -> None:
    probe.down = {JETSTACK, BITNAMI}
    value, skipped = charts_to_skip(load_stack_file(ROOT / "Pulumi.staging.yaml"), "auto")
    assert value == ["releases.cert-manager", "postgresql.chart", "redis.chart"]
    assert [chart.describe() for chart in skipped] == [
        "releases.cert-manager (cert-manager v1.16.1 from https://charts.jetstack.io): repository not reachable",
        f"postgresql.chart (postgresql 16.2.1 from {BITNAMI}): repository not reachable",
        f"redis.chart (redis 20.3.0 from {BITNAMI}): repository not reachable",
    ]
    # One probe per repository: postgresql and redis share the Bitnami registry.
    assert sorted(probe.asked) == sorted({spec.repo or "" for spec in staging_with(False).remote_charts().values()})
    assert len(probe.asked) == 5


def test_auto_with_every_repository_answering_leaves_nothing_out(probe: Probe) -> None:
    assert charts_to_skip(load_stack_file(ROOT / "Pulumi.staging.yaml"), "auto") == (False, [])


def test_auto_with_no_repository_answering_names_every_chart(probe: Probe) -> None:
    probe.down = {spec.repo or "" for spec in staging_with(False).remote_charts().values()}
    value, skipped = charts_to_skip(load_stack_file(ROOT / "Pulumi.staging.yaml"), "auto")
    assert value == STAGING_CHARTS
    assert [chart.key for chart in skipped] == STAGING_CHARTS


def test_auto_keeps_the_stacks_own_list_without_probing_it(probe: Probe) -> None:
    probe.down = {BITNAMI}
    value, skipped = charts_to_skip(staging_with(["releases.ingress-nginx"]), "auto")
    assert value == ["releases.ingress-nginx", "postgresql.chart", "redis.chart"]
    assert skipped[0].reason == "azora:skipCharts of the stack"
    assert "https://kubernetes.github.io/ingress-nginx" not in probe.asked


def test_render_and_skip_modes_probe_nothing(probe: Probe) -> None:
    config = staging_with(["redis.chart"])
    assert charts_to_skip(config, "render") == (False, [])
    value, skipped = charts_to_skip(config, "skip")
    assert value is True and [chart.key for chart in skipped] == STAGING_CHARTS
    assert probe.asked == []


def test_a_stack_without_remote_charts_probes_nothing(probe: Probe) -> None:
    assert charts_to_skip(load_stack_file(ROOT / "Pulumi.local.yaml"), "auto") == (False, [])
    assert unreachable_charts({}) == []
    assert probe.asked == []


class _FakeScratch:
    """Stands in for ScratchStack: records the `azora:` config the render would write."""

    written: dict[str, Any] = {}

    def __init__(self, stack: str, toolchain: object, edit: Callable[[dict[str, Any]], None], program_dir: Path = ROOT):
        raw, _ = read_stack_file(program_dir / f"Pulumi.{stack}.yaml")
        edit(raw)
        _FakeScratch.written = raw
        self.handle = None

    def __enter__(self) -> _FakeScratch:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> type[_FakeScratch]:
    monkeypatch.setattr(render_module, "ScratchStack", _FakeScratch)
    monkeypatch.setattr(render_module, "run_update", lambda *args, **kwargs: None)
    return _FakeScratch


def test_render_writes_the_unreachable_charts_into_the_scratch_stack(
    probe: Probe, no_engine: type[_FakeScratch], tmp_path: Path
) -> None:
    probe.down = {JETSTACK}
    result = render("staging", tmp_path / "out", toolchain=None, charts="auto")  # type: ignore[arg-type]
    assert no_engine.written["skipCharts"] == ["releases.cert-manager"]
    assert no_engine.written["renderDir"] == str((tmp_path / "out").resolve())
    assert [chart.key for chart in result.skipped_charts] == ["releases.cert-manager"]
    # What the render writes is valid config for the program.
    validate_raw(no_engine.written, "Pulumi.staging.yaml")


def test_render_probes_the_charts_of_the_edited_stack(
    probe: Probe, no_engine: type[_FakeScratch], tmp_path: Path
) -> None:
    probe.down = {"https://prometheus-community.github.io/helm-charts", JETSTACK}

    def no_monitoring(azora: dict[str, Any]) -> None:
        azora["monitoring"] = {"enabled": False}

    render("staging", tmp_path, toolchain=None, charts="auto", edit=no_monitoring)  # type: ignore[arg-type]
    # kube-prometheus-stack is gone from the edited stack: it must not be listed (nor probed).
    assert no_engine.written["skipCharts"] == ["releases.cert-manager"]
    assert "https://prometheus-community.github.io/helm-charts" not in probe.asked
    validate_raw(no_engine.written, "Pulumi.staging.yaml")


def test_render_mode_render_clears_the_stacks_own_list(no_engine: type[_FakeScratch], tmp_path: Path) -> None:
    def own_list(azora: dict[str, Any]) -> None:
        azora["skipCharts"] = ["redis.chart"]

    result = render("staging", tmp_path, toolchain=None, charts="render", edit=own_list)  # type: ignore[arg-type]
    assert no_engine.written["skipCharts"] is False and result.skipped_charts == []


def test_the_cli_warns_once_per_chart_left_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import azora.commands.render as command
    from azora.cli import app

    config = load_stack_file(ROOT / "Pulumi.staging.yaml")
    charts = config.remote_charts()
    skipped = [
        SkippedChart("releases.cert-manager", charts["releases.cert-manager"], "repository not reachable"),
        SkippedChart("redis.chart", charts["redis.chart"], "repository not reachable"),
    ]

    def fake_render(
        stack: str, out_dir: Path, toolchain: object, mode: str, project_dir: Path
    ) -> render_module.RenderResult:
        assert (stack, mode, project_dir) == ("staging", "auto", ROOT)
        return render_module.RenderResult(out_dir, [out_dir / "a.yaml"], skipped, 1.0)

    monkeypatch.setattr(command, "render", fake_render)
    monkeypatch.setattr(command, "ensure_toolchain", lambda console: None)
    result = CliRunner().invoke(app, ["render", "--stack", "staging", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("left out:") == 2
    assert "left out: releases.cert-manager (cert-manager v1.16.1 from https://charts.jetstack.io): " in result.output
    assert f"left out: redis.chart (redis 20.3.0 from {BITNAMI}): repository not reachable" in result.output


# ----------------------------------------------------------------------------- the probe itself


class _Response:
    def __init__(self, status: int):
        self.status_code = status

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _fake_http(monkeypatch: pytest.MonkeyPatch, answers: dict[tuple[str, str], int | Exception]) -> list[Any]:
    calls: list[Any] = []

    def request(method: str, url: str, **kwargs: Any) -> _Response:
        calls.append((method, url, kwargs["timeout"]))
        answer = answers.get((method, url), requests.ConnectionError("no route"))
        if isinstance(answer, Exception):
            raise answer
        return _Response(answer)

    monkeypatch.setattr(render_module.requests, "request", request)
    return calls


def test_an_oci_registry_answers_on_its_api_root(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_http(monkeypatch, {("GET", "https://registry-1.docker.io/v2/"): 401})
    assert repository_reachable(BITNAMI)
    assert calls == [("GET", "https://registry-1.docker.io/v2/", render_module.PROBE_TIMEOUT)]
    _fake_http(monkeypatch, {("GET", "https://registry-1.docker.io/v2/"): 404})
    assert not repository_reachable(BITNAMI)


def test_an_https_repository_answers_with_its_index(monkeypatch: pytest.MonkeyPatch) -> None:
    index = "https://charts.jetstack.io/index.yaml"
    calls = _fake_http(monkeypatch, {("HEAD", index): 200})
    assert repository_reachable(JETSTACK + "/")
    assert calls == [("HEAD", index, render_module.PROBE_TIMEOUT)]
    # A server that refuses HEAD is asked with GET (the body is not read).
    calls = _fake_http(monkeypatch, {("HEAD", index): 405, ("GET", index): 200})
    assert repository_reachable(JETSTACK)
    assert [call[0] for call in calls] == ["HEAD", "GET"]
    _fake_http(monkeypatch, {("HEAD", index): 404})
    assert not repository_reachable(JETSTACK)


def test_no_answer_means_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_http(monkeypatch, {("HEAD", "https://charts.jetstack.io/index.yaml"): requests.Timeout("slow")})
    assert not repository_reachable(JETSTACK)
    assert not repository_reachable(BITNAMI)
    assert not repository_reachable("ftp://example.com/charts")
    assert not repository_reachable("oci://")
