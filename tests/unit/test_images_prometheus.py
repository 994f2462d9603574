"""The Prometheus image: made like the pause image from the toolchain's static binary (here a
fake one: an ELF header and the Go build info `go install` writes), what it refuses to build
from, its run config and layer, the stack's plan for the embedded Prometheus, and its import next
to the stand-in (fake ctr, fake mmdebstrap for the stand-in's layer). The real binary is run in
tests/integration/test_images_prometheus.py and test_images_containerd.py."""

from __future__ import annotations

import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pytest import MonkeyPatch

from azora.config.load import load_stack_file
from azora.config.model import StackConfig
from azora.config.sections import EMBEDDED_PROMETHEUS_IMAGE
from azora.images import (
    PAUSE_IMAGE,
    PROMETHEUS_IMAGE,
    STANDIN_IMAGE,
    ImageError,
    ImageRefError,
    ImageSource,
    build,
    ensure_stack_images,
    images_for,
    recipes,
    rootfs,
)
from azora.images.binaries import go_build_info
from azora.toolchain import Pins
from tests.unit.images_support import (
    PROMETHEUS_BUILD,
    archive_files,
    ctr_calls,
    elf,
    fake_ctr,
    go_binary,
    image_documents,
    image_layers,
    tar_member,
    write_tar,
)

ROOT = Path(__file__).resolve().parents[2]
MODULE_LINE = PROMETHEUS_BUILD[1]
TOOLS = "run `azora tools install --with cluster` (make tools) to build it"


def _binary(tmp_path: Path, data: bytes | None = None, name: str = "prometheus") -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(go_binary() if data is None else data)
    return path


@pytest.fixture
def mmdebstrap_calls(monkeypatch: MonkeyPatch) -> list[recipes.Recipe]:
    """Replace mmdebstrap for the stand-in's layer (the only Debian one): the recipes asked for."""
    calls: list[recipes.Recipe] = []

    def fake(recipe: recipes.Recipe, dest: Path, listing: Path, scratch: Path) -> None:
        calls.append(recipe)
        directories = [tar_member(f"./{name}/", type=tarfile.DIRTYPE, mode=0o755) for name in ("usr", "usr/bin")]
        write_tar(dest, [*directories, tar_member("./usr/bin/python3", b"\x7fELF interpreter", mode=0o755)])
        listing.write_text("python3\t3.11.2-1+b1\tamd64\n")

    monkeypatch.setattr(rootfs, "run_mmdebstrap", fake)
    return calls


def test_the_image_tag_is_the_toolchain_s_prometheus_and_the_config_model_s_default() -> None:
    tag = PROMETHEUS_IMAGE.rsplit(":", 1)[1]
    assert PROMETHEUS_IMAGE == EMBEDDED_PROMETHEUS_IMAGE == "azora.local/prometheus:3.16.0"
    assert build.prometheus_release(Pins.load().cluster_prometheus) == tag  # toolchain/pins.toml


@pytest.mark.parametrize(
    ("module_version", "release"),
    [("v0.316.0", "3.16.0"), ("v0.300.1", "3.0.1"), ("v0.54.1", "2.54.1"), ("v2.42.0+incompatible", None)]
    + [("(devel)", None), ("v0.316.0-rc.0", None)],
)
def test_prometheus_release_reads_the_module_s_version_scheme(module_version: str, release: str | None) -> None:
    assert build.prometheus_release(module_version) == (release or module_version)


def test_the_prometheus_image_is_the_static_binary_run_as_nobody(tmp_path: Path) -> None:
    binary = _binary(tmp_path)
    image = build.build_prometheus_image(binary, tmp_path / "cache")
    files = archive_files(image.archive)
    entry, manifest, config = image_documents(files)
    assert image.ref == PROMETHEUS_IMAGE == entry["annotations"]["io.containerd.image.name"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "3.16.0" and entry["digest"] == image.digest
    run = config["config"]
    assert run["Entrypoint"] == ["/bin/prometheus"]
    assert run["Cmd"] == ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    assert (run["User"], run["WorkingDir"]) == ("65534:65534", "/")
    assert run["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert image.packages == {}  # no Debian layer
    (layer,) = image_layers(files, manifest)
    assert [(m.name, m.isdir(), m.mode, m.uid, m.gid) for m in layer.values()] == [
        ("bin", True, 0o755, 0, 0),
        ("bin/prometheus", False, 0o755, 0, 0),
        ("etc", True, 0o755, 0, 0),
        ("etc/prometheus", True, 0o755, 0, 0),
        ("etc/prometheus/prometheus.yml", False, 0o644, 0, 0),
        ("prometheus", True, 0o755, 65534, 65534),  # nobody's, as upstream's: it runs without a volume
    ]
    assert layer["bin/prometheus"].size == binary.stat().st_size
    default = yaml.safe_load(build.PROMETHEUS_CONFIG)
    assert default["scrape_configs"] == [
        {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}
    ]
    again = build.build_prometheus_image(binary, tmp_path / "cache")
    assert (image.cache_hit, again.cache_hit, again.digest, again.archive) == (False, True, image.digest, image.archive)


def test_the_digest_depends_only_on_the_binary_s_content(tmp_path: Path) -> None:
    first = build.build_prometheus_image(_binary(tmp_path), tmp_path / "one")
    elsewhere = build.build_prometheus_image(_binary(tmp_path, name="copy"), tmp_path / "two")
    assert (first.digest, first.size) == (elsewhere.digest, elsewhere.size) and not elsewhere.cache_hit
    assert first.archive.read_bytes() == elsewhere.archive.read_bytes()
    rebuilt = build.build_prometheus_image(_binary(tmp_path, go_binary() + b"\x00"), tmp_path / "one")
    assert rebuilt.digest != first.digest and not rebuilt.cache_hit
    assert [path.parent for path in (tmp_path / "one" / "archives").glob("*/image.tar")] == [rebuilt.archive.parent]
    assert len(list((tmp_path / "one" / "prometheus").glob("[!.]*"))) == 2  # the layers stay cached


OTHER_PROGRAM = ["path\tazora.local/toolchain/pause", "mod\tazora.local/toolchain/pause\t(devel)\t"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"#!/bin/sh\nexec prometheus\n", "it is not an ELF executable"),
        (go_binary(program_header_types=(6, 3, 1)), "it is dynamically linked (build it with CGO_ENABLED=0)"),
        (elf([1]), "it is not a build of github.com/prometheus/prometheus (no Go build info in it names that module)"),
        (go_binary(OTHER_PROGRAM), "it is not a build of github.com/prometheus/prometheus (no Go build info "
         "in it names that module)"),
        (go_binary([*PROMETHEUS_BUILD[:1], MODULE_LINE.replace("v0.316.0", "v0.317.0"), *PROMETHEUS_BUILD[2:]]),
         f"it is Prometheus 3.17.0 (github.com/prometheus/prometheus v0.317.0), not 3.16.0; {TOOLS}"),
        (go_binary([*PROMETHEUS_BUILD[:3], "build\t-tags=remove_all_sd", "build\tCGO_ENABLED=0"]),
         "it is built without Kubernetes service discovery (-tags remove_all_sd)"),
    ],
    ids=["script", "dynamic", "no-build-info", "another-program", "another-release", "no-kubernetes-sd"],
)  # fmt: skip
def test_a_binary_that_is_not_the_static_prometheus_of_the_tag_is_refused(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    binary = _binary(tmp_path, data)
    with pytest.raises(ImageError) as caught:
        build.build_prometheus_image(binary, tmp_path / "cache")
    assert str(caught.value) == f"cannot build azora.local/prometheus:3.16.0 from {binary}: {problem}"
    assert not (tmp_path / "cache").exists()  # refused before anything is written


def test_a_wrapper_module_build_and_a_build_with_every_discovery_are_accepted(tmp_path: Path) -> None:
    wrapper = [  # how the toolchain builds it: a generated module that requires Prometheus's
        "path\tgithub.com/prometheus/prometheus/cmd/prometheus",
        "mod\tazora.local/toolchain/prometheus\t(devel)\t",
        MODULE_LINE.replace("mod\t", "dep\t"),
        "build\t-tags=remove_all_sd,enable_kubernetes_sd",
    ]
    every_discovery = [line for line in PROMETHEUS_BUILD if "-tags" not in line]
    for lines in (wrapper, every_discovery):
        assert build.prometheus_binary_problem(go_binary(lines)) is None
    info = go_build_info(go_binary(wrapper))
    assert info is not None and info.modules["github.com/prometheus/prometheus"] == "v0.316.0"
    assert (info.go, info.tags) == ("go1.26.8", ("remove_all_sd", "enable_kubernetes_sd"))


def test_a_missing_binary_says_how_to_build_it(tmp_path: Path) -> None:
    missing = tmp_path / "toolchain" / "bin" / "prometheus"
    with pytest.raises(ImageError) as caught:
        build.build_prometheus_image(missing, tmp_path / "cache")
    assert str(caught.value) == (
        f"cannot build azora.local/prometheus:3.16.0: the toolchain has no Prometheus ({missing} is missing); {TOOLS}"
    )
    with pytest.raises(
        ImageError, match=r"^cannot build azora.local/prometheus:3.16.0: cannot read .*: Is a directory$"
    ):
        build.build_prometheus_image(tmp_path, tmp_path / "cache")


# ----------------------------------------------------------------------------- the plan


def _stack(
    mode: str | None = "embedded", image: str | None = None, *, enabled: bool = True, monitoring: bool = True
) -> StackConfig:
    """The local stack with the Prometheus settings given (None: the key is not in the model)."""
    config = load_stack_file(ROOT / "Pulumi.local.yaml")
    fields: dict[str, Any] = {"enabled": enabled, "mode": mode, "image": image}
    prometheus = config.monitoring.prometheus.model_copy(update={k: v for k, v in fields.items() if v is not None})
    section = config.monitoring.model_copy(update={"enabled": monitoring, "prometheus": prometheus})
    return config.model_copy(update={"monitoring": section})  # model_copy skips validation


def test_the_embedded_prometheus_adds_its_image_and_chart_mode_none() -> None:
    plan = images_for(_stack("embedded"))
    assert plan[PROMETHEUS_IMAGE] == ImageSource("prometheus", ("azora:monitoring.prometheus.image",))
    assert [source.builder for source in plan.values()].count("prometheus") == 1
    assert list(plan) == sorted(plan)
    assert images_for(_stack("embedded", PROMETHEUS_IMAGE)) == plan
    standin = {ref: source for ref, source in plan.items() if source.builder == "standin"}
    for off in (_stack("chart"), _stack("embedded", enabled=False), _stack("embedded", monitoring=False)):
        assert images_for(off) == standin


def test_a_model_without_the_mode_is_chart_mode() -> None:
    config = _stack("chart")
    older = SimpleNamespace(enabled=True, prometheus=SimpleNamespace(enabled=True, retention="15d"))
    assert PROMETHEUS_IMAGE not in images_for(config.model_copy(update={"monitoring": older}))
    newer = SimpleNamespace(enabled=True, prometheus=SimpleNamespace(enabled=True, mode="embedded"))
    assert PROMETHEUS_IMAGE in images_for(config.model_copy(update={"monitoring": newer}))  # image: the default


@pytest.mark.parametrize(
    "image",
    ["azora.local/prometheus:2.42.0", "prom/prometheus:v3.16.0", "azora.local/prometheus", "Not A Ref"]
    + [f"azora.local/prometheus:3.16.0@sha256:{'a' * 64}"],
)
def test_another_prometheus_image_is_refused_with_its_key_path(tmp_path: Path, image: str) -> None:
    with pytest.raises(ImageRefError) as caught:
        ensure_stack_images(
            _stack("embedded", image), str(tmp_path / "none.sock"), tmp_path / "pause", tmp_path / "prometheus",
            cache=tmp_path,
        )  # fmt: skip
    assert str(caught.value) == (
        f"azora:monitoring.prometheus.image: {image!r}: the embedded mode can only build "
        "azora.local/prometheus:3.16.0 (from the toolchain's Prometheus); leave the key out or set it to that"
    )
    assert caught.value.exit_code == 2 and not list(tmp_path.iterdir())


def test_a_service_cannot_take_the_name_of_an_image_azora_builds_for_something_else() -> None:
    config = _stack("chart")
    services = {
        **config.services,
        "web": config.services["web"].model_copy(update={"image": "azora.local/pause", "versions": {"blue": "3.10"}}),
        "auth": config.services["auth"].model_copy(
            update={"image": "azora.local/prometheus", "versions": {"blue": "3.16.0", "green": "2.42.0"}}
        ),
        "payment": config.services["payment"].model_copy(update={"image": "azora.local/standin"}),
    }
    with pytest.raises(ImageRefError) as caught:
        images_for(config.model_copy(update={"services": services}))
    assert str(caught.value) == "2 images in the stack cannot be built"
    assert caught.value.details == [
        "azora:services.auth.versions.blue: azora.local/prometheus:3.16.0 is the embedded Prometheus's image, "
        "which azora builds: a service's image cannot take its name",
        f"azora:services.web.versions.blue: {PAUSE_IMAGE} is the pause image, which azora builds: "
        "a service's image cannot take its name",
    ]  # the stand-in's own name is fine (it is the stand-in), and so is an older Prometheus tag


# ----------------------------------------------------------------------------- build and import


def test_ensure_stack_images_imports_prometheus_under_its_own_name(
    tmp_path: Path, monkeypatch: MonkeyPatch, mmdebstrap_calls: list[recipes.Recipe]
) -> None:
    log = fake_ctr(tmp_path, monkeypatch, {})
    pause, prometheus = _binary(tmp_path, elf([1]), "pause"), _binary(tmp_path)
    address = str(tmp_path / "c.sock")
    report = ensure_stack_images(_stack("embedded"), address, pause, prometheus, cache=tmp_path / "cache")
    assert report.prometheus is not None and mmdebstrap_calls == [recipes.STANDIN]
    assert (report.prometheus.ref, report.prometheus.refs, report.prometheus.imported) == (
        PROMETHEUS_IMAGE,
        (PROMETHEUS_IMAGE,),
        True,
    )
    assert report.prometheus.tagged == () and report.prometheus.packages == {}
    assert PROMETHEUS_IMAGE not in report.standin.refs
    assert report.results == (report.pause, report.standin, report.prometheus)
    assert report.build_seconds == sum(r.build_seconds for r in report.results) and not report.cache_hit
    imports = [call.split()[-1] for call in ctr_calls(log) if call.startswith("images import")]
    assert imports[-1] == str(build.build_prometheus_image(prometheus, tmp_path / "cache").archive)
    assert len(imports) == 3
    tags = [call for call in ctr_calls(log) if call.startswith("images tag")]
    assert len(tags) == 1 and tags[0].startswith(f"images tag --force {STANDIN_IMAGE} ")
    assert PROMETHEUS_IMAGE not in tags[0]


def test_a_missing_prometheus_stops_the_embedded_stack_before_containerd_is_asked_anything(
    tmp_path: Path, monkeypatch: MonkeyPatch, mmdebstrap_calls: list[recipes.Recipe]
) -> None:
    log = fake_ctr(tmp_path, monkeypatch, {})
    pause, missing = _binary(tmp_path, elf([1]), "pause"), tmp_path / "bin" / "prometheus"
    with pytest.raises(ImageError) as caught:
        ensure_stack_images(_stack("embedded"), str(tmp_path / "c.sock"), pause, missing, cache=tmp_path / "cache")
    assert str(caught.value) == (
        f"cannot build azora.local/prometheus:3.16.0: the toolchain has no Prometheus ({missing} is missing); {TOOLS}"
    )
    assert ctr_calls(log) == [] and mmdebstrap_calls == []


def test_chart_mode_never_reads_the_prometheus_binary_and_the_report_stays_two_images(
    tmp_path: Path, monkeypatch: MonkeyPatch, mmdebstrap_calls: list[recipes.Recipe]
) -> None:
    fake_ctr(tmp_path, monkeypatch, {})
    pause, missing = _binary(tmp_path, elf([1]), "pause"), tmp_path / "bin" / "prometheus"
    report = ensure_stack_images(_stack("chart"), str(tmp_path / "c.sock"), pause, missing, cache=tmp_path / "cache")
    assert report.prometheus is None and mmdebstrap_calls == [recipes.STANDIN]
    assert report.results == (report.pause, report.standin)
    assert report.import_seconds == report.pause.import_seconds + report.standin.import_seconds
    assert not (tmp_path / "cache" / "prometheus").exists()
