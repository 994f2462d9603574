"""The Prometheus image and the recipes behind the Debian layers: what mmdebstrap is asked for,
what the layer keeps and checks, the image's run config, the stack's plan for the embedded
Prometheus and its import next to the stand-in. No mmdebstrap runs: fake rootfs tars stand in
for both Debian layers (the real build is tests/integration/test_images_containerd.py)."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pytest import MonkeyPatch

from azora.config.load import load_stack_file
from azora.config.model import StackConfig
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
from azora.images.cache import content_key
from azora.images.oci import Entry, dir_entry, file_entry, host_platform
from tests.unit.images_support import (
    archive_files,
    ctr_calls,
    elf,
    fake_ctr,
    image_documents,
    image_layers,
    tar_member,
    write_tar,
)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DEB = "2.42.0+ds-5+deb12u1"
LOADER = "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
Members = list[tuple[tarfile.TarInfo, bytes]]


def _dirs(*names: str) -> Members:
    return [tar_member(f"./{name}/", type=tarfile.DIRTYPE, mode=0o755) for name in names]


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return tar_member(f"./{name}", type=tarfile.SYMTYPE, linkname=target)


def prometheus_rootfs(*, drop: str = "") -> Members:
    """What the allowlisted extract leaves, in miniature: the binary, libc and the loader, the web
    UI with links two hops deep, the default config, and mmdebstrap's own setup files."""
    members = [
        *_dirs("dev", "etc", "etc/apt", "etc/prometheus", "lib", "lib/x86_64-linux-gnu", "lib64", "usr", "usr/bin"),
        *_dirs("usr/share", "usr/share/prometheus", "usr/share/prometheus/web", "usr/share/prometheus/web/static"),
        *_dirs("usr/share/prometheus/web/templates", "usr/share/javascript", "usr/share/javascript/jquery"),
        *_dirs("usr/share/javascript/bootstrap4", "usr/share/javascript/bootstrap4/css"),
        *_dirs("usr/share/javascript/moment-timezone", "usr/share/nodejs", "usr/share/nodejs/bootstrap"),
        *_dirs("usr/share/nodejs/bootstrap/dist", "usr/share/nodejs/bootstrap/dist/css"),
        tar_member("./usr/bin/prometheus", b"\x7fELF prometheus", mode=0o755),
        tar_member(f"./{LOADER}", b"\x7fELF loader", mode=0o755),
        tar_member("./lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc", mode=0o755),
        _link("lib64/ld-linux-x86-64.so.2", f"/{LOADER}"),
        tar_member("./etc/prometheus/prometheus.yml", b"global: {}\n"),
        tar_member("./usr/share/prometheus/web/templates/_base.html", b"<html/>"),
        _link("usr/share/prometheus/web/static/jquery", "../../../javascript/jquery"),
        tar_member("./usr/share/javascript/jquery/jquery.min.js", b"jQuery"),
        _link("usr/share/prometheus/web/static/moment-timezone", "../../../javascript/moment-timezone"),
        tar_member("./usr/share/javascript/moment-timezone/moment-timezone-with-data.min.js", b"moment"),
        _link("usr/share/prometheus/web/static/bootstrap4", "../../../javascript/bootstrap4"),
        _link("usr/share/javascript/bootstrap4/css/bootstrap.min.css", "../../../nodejs/bootstrap/dist/css/b.css"),
        tar_member("./usr/share/nodejs/bootstrap/dist/css/b.css", b"bootstrap"),
        tar_member("./dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
        tar_member("./etc/resolv.conf", b"nameserver 10.0.0.1\n"),
        tar_member("./etc/apt/sources.list", b"deb http://deb.debian.org/debian bookworm main\n"),
    ]
    return [(info, data) for info, data in members if info.name != f"./{drop}"]


def standin_rootfs() -> Members:
    return [
        *_dirs("usr", "usr/bin"),
        tar_member("./usr/bin/python3.11", b"\x7fELF interpreter", mode=0o755),
        _link("usr/bin/python3", "python3.11"),
    ]


FakeDebian = Callable[..., list[recipes.Recipe]]


@pytest.fixture
def debian(monkeypatch: MonkeyPatch) -> FakeDebian:
    """Replace mmdebstrap: each recipe gets its fake rootfs (or `rootfs`) and package list
    (prometheus at `version`); returns the recipes it was asked for, in order."""
    calls: list[recipes.Recipe] = []

    def install(rootfs_members: Members | None = None, version: str = PROMETHEUS_DEB) -> list[recipes.Recipe]:
        def fake(recipe: recipes.Recipe, dest: Path, listing: Path, scratch: Path) -> None:
            calls.append(recipe)
            if recipe == recipes.PROMETHEUS:
                write_tar(dest, prometheus_rootfs() if rootfs_members is None else rootfs_members)
                listing.write_text(f"prometheus\t{version}\tamd64\nlibc6\t2.36-9+deb12u14\tamd64\n")
            else:
                write_tar(dest, standin_rootfs())
                listing.write_text("python3\t3.11.2-1+b1\tamd64\n")

        monkeypatch.setattr(rootfs, "run_mmdebstrap", fake)
        return calls

    return install


def test_the_standin_recipe_keeps_the_cache_key_it_had_before_recipes() -> None:
    before = {  # rootfs_key() as it was when the stand-in was the only Debian layer
        "builder": 1,
        "suite": "bookworm",
        "mirror": "http://deb.debian.org/debian",
        "packages": ["python3", "python3-prometheus-client"],
        "excludes": [
            "/usr/share/doc/*",
            "/usr/share/man/*",
            "/usr/share/locale/*",
            "/usr/share/info/*",
            "/usr/share/lintian/*",
            "/usr/lib/*/gconv/*",
        ],
        "bytecode": r"/test/|/tests/|/idlelib/|/tkinter/|/turtledemo/|/lib2to3/",
        "dropped": [
            "etc/apt",
            "var/cache/apt",
            "var/lib/apt",
            "var/log/apt",
            "etc/dpkg/dpkg.cfg.d/99mmdebstrap",
            "etc/hostname",
            "etc/resolv.conf",
            "dev/*",
        ],
        "platform": host_platform(),
    }
    assert rootfs.rootfs_key(recipes.STANDIN) == content_key(before)
    assert rootfs.rootfs_key(recipes.PROMETHEUS) != content_key(before)


def test_prometheus_is_unpacked_through_an_allowlist_without_a_python_hook(tmp_path: Path) -> None:
    command = rootfs.mmdebstrap_command(recipes.PROMETHEUS, tmp_path / "out.tar", tmp_path / "pkgs.tsv")
    assert command[:3] == ["mmdebstrap", "--variant=extract", "--include=prometheus"]
    filters = [arg.removeprefix("--dpkgopt=") for arg in command if arg.startswith("--dpkgopt=")]
    assert filters[0] == "path-exclude=/*" and all(f.startswith("path-include=/") for f in filters[1:])
    assert {"path-include=/usr/bin/prometheus", "path-include=/usr/share/prometheus/*"} <= set(filters)
    assert "path-include=/lib*/ld-linux*" in filters and "path-include=/lib/*/libc.so.6" in filters
    hooks = [arg for arg in command if arg.startswith("--extract-hook=")]
    assert len(hooks) == 1 and "dpkg-deb --show" in hooks[0] and str(tmp_path / "pkgs.tsv") in hooks[0]
    standin = rootfs.mmdebstrap_command(recipes.STANDIN, tmp_path / "out.tar", tmp_path / "pkgs.tsv")
    assert [arg for arg in standin if "compileall" in arg] and not [a for a in standin if "path-include" in a]
    assert command[-3:] == ["bookworm", str(tmp_path / "out.tar"), "http://deb.debian.org/debian"]


def _entries(*entries: Entry) -> dict[str, Entry]:
    return {entry.name: entry for entry in entries}


def test_resolve_follows_links_as_the_kernel_would_inside_the_layer() -> None:
    sym = tarfile.SYMTYPE
    layer = _entries(
        dir_entry("lib"),
        dir_entry("lib/x"),
        file_entry("lib/x/ld.so", b"", 0o755),
        dir_entry("lib64"),
        Entry("lib64/ld.so", sym, 0o777, linkname="/lib/x/ld.so"),
        dir_entry("usr"),
        Entry("usr/lib", sym, 0o777, linkname="../lib"),  # a link to a directory, used mid-path
        Entry("usr/up", sym, 0o777, linkname="../../../lib/x"),  # '..' above the root stays at the root
        Entry("loop-a", sym, 0o777, linkname="loop-b"),
        Entry("loop-b", sym, 0o777, linkname="/loop-a"),
        Entry("gone", sym, 0o777, linkname="/lib/x/absent"),
        Entry("root", sym, 0o777, linkname="/"),
    )
    assert rootfs.resolve(layer, "lib64/ld.so") == layer["lib/x/ld.so"]
    assert rootfs.resolve(layer, "usr/lib/x/ld.so") == layer["lib/x/ld.so"]
    assert rootfs.resolve(layer, "usr/up/ld.so") == layer["lib/x/ld.so"]
    assert rootfs.resolve(layer, "root/usr/lib") == layer["lib"]
    assert rootfs.resolve(layer, "root") == dir_entry("")
    assert [rootfs.resolve(layer, name) for name in ("loop-a", "gone", "lib/x/ld.so/more", "absent")] == [None] * 4


def test_the_prometheus_image_runs_the_binary_as_nobody_with_a_storage_directory(
    tmp_path: Path, debian: FakeDebian
) -> None:
    calls = debian()
    image = build.build_prometheus_image(tmp_path)
    files = archive_files(image.archive)
    entry, manifest, config = image_documents(files)
    assert (
        image.ref
        == PROMETHEUS_IMAGE
        == entry["annotations"]["io.containerd.image.name"]
        == ("azora.local/prometheus:2.42.0")
    )
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "2.42.0" and entry["digest"] == image.digest
    run = config["config"]
    assert run["Entrypoint"] == ["/usr/bin/prometheus"]
    assert run["Cmd"] == ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    assert (run["User"], run["WorkingDir"]) == ("65534:65534", "/")
    assert run["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert image.packages == {"libc6": "2.36-9+deb12u14", "prometheus": PROMETHEUS_DEB}
    base, data = image_layers(files, manifest)
    assert not [name for name in base if name.startswith(("etc/apt", "dev/")) or name == "etc/resolv.conf"]
    assert base["usr/bin/prometheus"].mode == 0o755 and base["lib64/ld-linux-x86-64.so.2"].issym()
    assert [(m.name, m.isdir(), m.mode, m.uid, m.gid) for m in data.values()] == [
        ("prometheus", True, 0o755, 65534, 65534)
    ]
    again = build.build_prometheus_image(tmp_path)
    assert (image.cache_hit, again.cache_hit, again.digest, calls) == (False, True, image.digest, [recipes.PROMETHEUS])


def test_the_standin_and_prometheus_layers_are_cached_apart(tmp_path: Path, debian: FakeDebian) -> None:
    calls = debian()
    standin = build.build_standin_image(tmp_path)
    prometheus = build.build_prometheus_image(tmp_path)
    assert calls == [recipes.STANDIN, recipes.PROMETHEUS] and standin.digest != prometheus.digest
    assert len(list((tmp_path / "rootfs").glob("[!.]*"))) == 2
    assert build.build_standin_image(tmp_path).cache_hit and build.build_prometheus_image(tmp_path).cache_hit


MISSING_JQUERY = "usr/share/prometheus/web/static/jquery/jquery.min.js is missing (a file the Prometheus image needs)"
JQUERY_NOWHERE = "usr/share/prometheus/web/static/jquery -> ../../../javascript/jquery leads nowhere in the layer"
LOADER_NOWHERE = f"lib64/ld-linux-x86-64.so.2 -> /{LOADER} leads nowhere in the layer"


@pytest.mark.parametrize(
    ("drop", "problems"),
    [
        ("usr/share/javascript/jquery/jquery.min.js", [MISSING_JQUERY]),
        ("usr/share/javascript/jquery/", [JQUERY_NOWHERE, MISSING_JQUERY]),  # the directory entry only
        (LOADER, [LOADER_NOWHERE]),  # not a required file: found by the link check
    ],
)
def test_a_link_leading_nowhere_or_a_missing_file_fails_the_build_and_caches_nothing(
    tmp_path: Path, debian: FakeDebian, drop: str, problems: list[str]
) -> None:
    debian(prometheus_rootfs(drop=drop))
    with pytest.raises(ImageError) as caught:
        build.build_prometheus_image(tmp_path)
    head = problems[0] if len(problems) == 1 else f"{len(problems)} problems"
    assert str(caught.value) == f"the Debian layer of the Prometheus image is incomplete: {head}"
    assert caught.value.details == problems
    assert not list((tmp_path / "rootfs").iterdir())  # the scratch directory went with the failure


def test_the_standin_recipe_checks_only_its_required_files() -> None:
    entries = [Entry("etc/rmt", tarfile.SYMTYPE, 0o777, linkname="/usr/sbin/rmt")]  # an alternative never made
    assert rootfs.layer_problems(entries, recipes.STANDIN) == [
        "usr/bin/python3 is missing (a file the stand-in image needs)"
    ]
    assert (
        rootfs.layer_problems(entries, recipes.PROMETHEUS)[0] == "etc/rmt -> /usr/sbin/rmt leads nowhere in the layer"
    )


def test_a_prometheus_package_of_another_version_is_refused(tmp_path: Path, debian: FakeDebian) -> None:
    debian(version="2.45.3+ds-2")
    with pytest.raises(ImageError, match=r"^cannot build azora.local/prometheus:2.42.0: bookworm's prometheus "
                       r"package is 2\.45\.3\+ds-2, not 2\.42\.0$"):  # fmt: skip
        build.build_prometheus_image(tmp_path)
    versions = ["2.42.0+ds-5+deb12u1", "1:2.42.0-1", "2.42.0~rc1-1", "2.42.0", "2.42.0-1-2"]
    assert [build.upstream_version(v) for v in versions] == ["2.42.0", "2.42.0", "2.42.0", "2.42.0", "2.42.0-1"]


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
    ["prom/prometheus:v2.42.0", "azora.local/prometheus:2.45.0", "azora.local/prometheus", "Not A Ref"]
    + [f"azora.local/prometheus:2.42.0@sha256:{'a' * 64}"],
)
def test_another_prometheus_image_is_refused_with_its_key_path(tmp_path: Path, image: str) -> None:
    with pytest.raises(ImageRefError) as caught:
        ensure_stack_images(_stack("embedded", image), str(tmp_path / "none.sock"), tmp_path / "pause", cache=tmp_path)
    assert str(caught.value) == (
        f"azora:monitoring.prometheus.image: {image!r}: the embedded mode can only build "
        "azora.local/prometheus:2.42.0 (from Debian's prometheus package); leave the key out or set it to that"
    )
    assert caught.value.exit_code == 2 and not list(tmp_path.iterdir())


def test_a_service_cannot_take_the_name_of_an_image_azora_builds_for_something_else() -> None:
    config = _stack("chart")
    services = {
        **config.services,
        "web": config.services["web"].model_copy(update={"image": "azora.local/pause", "versions": {"blue": "3.10"}}),
        "auth": config.services["auth"].model_copy(
            update={"image": "azora.local/prometheus", "versions": {"blue": "2.42.0", "green": "2.42.0"}}
        ),
        "payment": config.services["payment"].model_copy(update={"image": "azora.local/standin"}),
    }
    with pytest.raises(ImageRefError) as caught:
        images_for(config.model_copy(update={"services": services}))
    assert str(caught.value) == "3 images in the stack cannot be built"
    assert caught.value.details == [
        "azora:services.auth.versions.blue: azora.local/prometheus:2.42.0 is the embedded Prometheus's image, "
        "which azora builds: a service's image cannot take its name",
        "azora:services.auth.versions.green: azora.local/prometheus:2.42.0 is the embedded Prometheus's image, "
        "which azora builds: a service's image cannot take its name",
        f"azora:services.web.versions.blue: {PAUSE_IMAGE} is the pause image, which azora builds: "
        "a service's image cannot take its name",
    ]  # the stand-in's own name is fine: it is the stand-in


# ----------------------------------------------------------------------------- build and import


def test_ensure_stack_images_imports_prometheus_under_its_own_name(
    tmp_path: Path, monkeypatch: MonkeyPatch, debian: FakeDebian
) -> None:
    calls = debian()
    log = fake_ctr(tmp_path, monkeypatch, {})
    pause = tmp_path / "pause"
    pause.write_bytes(elf([1]))
    address = str(tmp_path / "c.sock")
    report = ensure_stack_images(_stack("embedded"), address, pause, cache=tmp_path / "cache")
    assert report.prometheus is not None and calls == [recipes.STANDIN, recipes.PROMETHEUS]
    assert (report.prometheus.ref, report.prometheus.refs, report.prometheus.imported) == (
        PROMETHEUS_IMAGE,
        (PROMETHEUS_IMAGE,),
        True,
    )
    assert report.prometheus.tagged == () and report.prometheus.packages["prometheus"] == PROMETHEUS_DEB
    assert PROMETHEUS_IMAGE not in report.standin.refs and report.results == (
        report.pause,
        report.standin,
        report.prometheus,
    )
    assert report.build_seconds == sum(r.build_seconds for r in report.results) and not report.cache_hit
    imports = [call.split()[-1] for call in ctr_calls(log) if call.startswith("images import")]
    assert len(imports) == 3 and str(build.build_prometheus_image(tmp_path / "cache").archive) == imports[-1]
    tags = [call for call in ctr_calls(log) if call.startswith("images tag")]
    assert len(tags) == 1 and tags[0].startswith(f"images tag --force {STANDIN_IMAGE} ")
    assert PROMETHEUS_IMAGE not in tags[0]


def test_chart_mode_builds_no_prometheus_and_the_report_stays_two_images(
    tmp_path: Path, monkeypatch: MonkeyPatch, debian: FakeDebian
) -> None:
    calls = debian()
    fake_ctr(tmp_path, monkeypatch, {})
    pause = tmp_path / "pause"
    pause.write_bytes(elf([1]))
    report = ensure_stack_images(_stack("chart"), str(tmp_path / "c.sock"), pause, cache=tmp_path / "cache")
    assert report.prometheus is None and calls == [recipes.STANDIN]
    assert report.results == (report.pause, report.standin)
    assert report.import_seconds == report.pause.import_seconds + report.standin.import_seconds
