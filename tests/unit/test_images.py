"""Images for the embedded cluster's node: deterministic layers, a valid OCI layout, the cache,
the stand-in's Debian recipe and its checks, the pause image, references planned from a real
stack file, and the ctr calls (a fake ctr). No mmdebstrap runs: a tiny rootfs tar stands in for
the Debian layer. The Prometheus image: test_images_prometheus.py."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
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
    build,
    ensure_stack_images,
    images_for,
    recipes,
    rootfs,
)
from azora.images.cache import content_key
from azora.images.containerd import import_image, parse_image_list
from azora.images.oci import Entry, dir_entry, file_entry, host_platform, write_layer
from tests.unit.images_support import (
    archive_files,
    ctr_calls,
    elf,
    fake_ctr,
    image_documents,
    layer_members,
    tar_member,
    write_tar,
)

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "a" * 64


def _fake_rootfs(dest: Path, listing: Path, scratch: Path) -> None:
    members = [
        tar_member("./", type=tarfile.DIRTYPE, mode=0o755),
        tar_member("./usr/", type=tarfile.DIRTYPE, mode=0o755),
        tar_member("./usr/bin/", type=tarfile.DIRTYPE, mode=0o755),
        tar_member("./usr/bin/python3.11", b"\x7fELF interpreter", mode=0o755, uid=42),
        tar_member("./usr/bin/python3", type=tarfile.SYMTYPE, linkname="python3.11"),
        tar_member("./usr/bin/a-hard-link", type=tarfile.LNKTYPE, linkname="./usr/bin/python3.11"),
        tar_member("./dev/", type=tarfile.DIRTYPE, mode=0o755),
        tar_member("./dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
        tar_member("./etc/", type=tarfile.DIRTYPE, mode=0o755),
        tar_member("./etc/resolv.conf", b"nameserver 10.0.0.1\n"),
        tar_member("./etc/apt/", type=tarfile.DIRTYPE, mode=0o755),
        tar_member("./etc/apt/sources.list", b"deb http://deb.debian.org/debian bookworm main\n"),
    ]
    write_tar(dest, members)
    listing.write_text("python3\t3.11.2-1+b1\tamd64\npython3-prometheus-client\t0.16.0-0.1\tall\n")


@pytest.fixture
def mmdebstrap_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def fake(recipe: recipes.Recipe, dest: Path, listing: Path, scratch: Path) -> None:
        assert recipe == recipes.STANDIN
        calls.append(dest)
        time.sleep(0.05)  # long enough for a concurrent build to wait on the lock
        _fake_rootfs(dest, listing, scratch)

    monkeypatch.setattr(rootfs, "run_mmdebstrap", fake)
    return calls


def test_a_layer_is_the_same_bytes_whatever_the_order_of_its_entries(tmp_path: Path) -> None:
    entries = [
        dir_entry("opt"),
        file_entry("opt/b", b"two"),
        file_entry("opt/a", b"one", 0o755),
        dir_entry("tmp", 0o1777),
    ]
    first = write_layer(entries, tmp_path / "1.tar.gz")
    second = write_layer(list(reversed(entries)), tmp_path / "2.tar.gz")
    assert (first.digest, first.diff_id, first.size) == (second.digest, second.diff_id, second.size)
    members = layer_members((tmp_path / "1.tar.gz").read_bytes())
    assert list(members) == ["opt", "opt/a", "opt/b", "tmp"]
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members.values()} == {(0, 0, 0, "")}
    assert write_layer([*entries[:1], file_entry("opt/b", b"2")], tmp_path / "3.tar.gz").digest != first.digest
    with pytest.raises(ValueError, match="duplicate layer entries: opt"):
        write_layer([dir_entry("opt"), dir_entry("opt")], tmp_path / "4.tar.gz")


def test_the_standin_archive_is_a_valid_oci_layout(tmp_path: Path, mmdebstrap_calls: list[Path]) -> None:
    image = build.build_standin_image(tmp_path)
    files = archive_files(image.archive)
    entry, manifest, config = image_documents(files)
    assert entry["annotations"]["io.containerd.image.name"] == STANDIN_IMAGE == image.ref
    assert entry["digest"] == image.digest and image.packages["python3"] == "3.11.2-1+b1"
    run = config["config"]
    assert run["Entrypoint"] == ["python3", "-m", "azora.standin", "serve", "--listen", "0.0.0.0"]
    assert {"PYTHONPATH=/opt/azora", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(run["Env"])
    assert (run["User"], run["WorkingDir"]) == ("10001:10001", "/")
    base, app = (layer_members(files[f"blobs/sha256/{layer['digest'][7:]}"]) for layer in manifest["layers"])
    # mmdebstrap's setup files and device nodes are gone; a hard link became a copy; owners are 0
    assert sorted(base) == [
        "dev",
        "etc",
        "usr",
        "usr/bin",
        "usr/bin/a-hard-link",
        "usr/bin/python3",
        "usr/bin/python3.11",
    ]
    assert base["usr/bin/a-hard-link"].isreg() and base["usr/bin/python3.11"].uid == 0
    assert "opt/azora/azora/standin/__main__.py" in app and "opt/azora/azora/__init__.py" in app
    assert app["tmp"].isdir() and app["tmp"].mode == 0o1777


def test_a_second_build_is_a_cache_hit_and_a_changed_source_rebuilds_only_the_app(
    tmp_path: Path, mmdebstrap_calls: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build.build_standin_image(tmp_path)
    started = time.monotonic()
    second = build.build_standin_image(tmp_path)
    assert time.monotonic() - started < 0.5
    assert (first.cache_hit, second.cache_hit, second.digest, len(mmdebstrap_calls)) == (False, True, first.digest, 1)
    source = tmp_path / "src" / "state.py"
    source.parent.mkdir()
    source.write_text("CHANGED = True\n")
    monkeypatch.setattr(build, "standin_sources", lambda: [("opt/azora/azora/standin/state.py", source)])
    changed = build.build_standin_image(tmp_path)
    assert (changed.cache_hit, len(mmdebstrap_calls)) == (False, 1) and changed.digest != first.digest
    assert [path.parent for path in (tmp_path / "archives").glob("*/image.tar")] == [changed.archive.parent]


def test_concurrent_builds_build_once(tmp_path: Path, mmdebstrap_calls: list[Path]) -> None:
    digests: list[str] = []
    threads = [
        threading.Thread(target=lambda: digests.append(build.build_standin_image(tmp_path).digest)) for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mmdebstrap_calls) == 1 and len(set(digests)) == 1 and len(digests) == 2


def test_the_pause_image_holds_only_the_static_binary(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(elf([1, 1]))
    image = build.build_pause_image(binary, tmp_path / "cache")
    files = archive_files(image.archive)
    entry, manifest, config = image_documents(files)
    assert image.ref == PAUSE_IMAGE == entry["annotations"]["io.containerd.image.name"]
    assert config["config"]["Entrypoint"] == ["/pause"]
    (layer,) = (layer_members(files[f"blobs/sha256/{d['digest'][7:]}"]) for d in manifest["layers"])
    assert [(m.name, m.mode) for m in layer.values()] == [("pause", 0o755)]
    binary.write_bytes(elf([6, 3, 1]))  # PT_INTERP: dynamically linked
    with pytest.raises(ImageError, match="dynamically linked .*CGO_ENABLED=0"):
        build.build_pause_image(binary, tmp_path / "cache")
    with pytest.raises(ImageError, match=f"cannot build {PAUSE_IMAGE}: cannot read .*missing"):
        build.build_pause_image(tmp_path / "missing", tmp_path / "cache")


def test_the_standin_serve_path_imports_only_the_stdlib_and_prometheus_client() -> None:
    probe = (
        "import sys; before = set(sys.modules); import azora.standin.__main__\n"
        "new = set(sys.modules) - before\n"
        "print(*sorted({m.split('.')[0] for m in new} - set(sys.stdlib_module_names)))\n"
        "print(*sorted(m for m in new if m.startswith('azora.') and not m.startswith('azora.standin')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert set(done.stdout.split()) == {"azora", "prometheus_client"}


def _local(edit: dict[str, dict[str, Any]] | None = None) -> StackConfig:
    config = load_stack_file(ROOT / "Pulumi.local.yaml")
    services = {
        name: svc.model_copy(update=(edit or {}).get(name, {})) for name, svc in config.services.items()
    }  # model_copy skips validation: the planner must check on its own
    return config.model_copy(update={"services": services})


def test_the_local_stack_names_one_standin_ref_per_service_version() -> None:
    config = _local()
    plan = images_for(config)
    standin = {ref for ref, source in plan.items() if source.builder == "standin"}
    expected = {f"{svc.image}:{svc.versions['blue']}" for svc in config.services.values()}
    assert standin == expected and "ghcr.io/azora/web:2.4.0" in plan
    assert plan["ghcr.io/azora/web:2.4.0"].key_paths == (
        "azora:services.web.versions.blue",
        "azora:services.web.versions.green",
    )
    assert set(plan) - standin <= {PROMETHEUS_IMAGE}  # the embedded Prometheus, if the file runs it
    short = images_for(_local({"web": {"image": "azora-web", "versions": {"blue": "1.0"}}}))
    assert "docker.io/library/azora-web:1.0" in short


def test_invalid_or_unservable_refs_name_the_image_and_key_path(tmp_path: Path) -> None:
    edits: dict[str, dict[str, Any]] = {
        "web": {"image": "ghcr.io/Azora/Web"},
        "auth": {"versions": {"blue": "-bad", "green": "x" * 129}},
        "payment": {"health_path": "/metrics"},
    }
    with pytest.raises(ImageRefError) as caught:
        # the refs are checked before containerd is asked anything: the address does not exist
        ensure_stack_images(
            _local(edits), str(tmp_path / "none.sock"), tmp_path / "pause", tmp_path / "prometheus", cache=tmp_path
        )
    assert str(caught.value) == "4 images in the stack cannot be built" and caught.value.exit_code == 2
    details = "\n".join(caught.value.details)
    assert "azora:services.web.image: 'ghcr.io/Azora/Web' is not a valid image repository" in details
    assert "azora:services.auth.versions.blue: ghcr.io/azora/auth:-bad has an invalid tag" in details
    assert "azora:services.auth.versions.green: " in details
    assert "azora:services.payment.healthPath: the stand-in (ghcr.io/azora/payment) cannot serve it" in details
    assert not list(tmp_path.iterdir())  # nothing was built


def _built(tmp_path: Path) -> build.BuiltImage:
    return build.BuiltImage(STANDIN_IMAGE, tmp_path / "image.tar", DIGEST, 1, True, 0.0)


def test_import_skips_what_containerd_has_and_tags_what_it_lacks(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    have = {STANDIN_IMAGE: DIGEST, "ghcr.io/azora/web:2.4.0": DIGEST, "x/old:1": "sha256:" + "b" * 64}
    log, address = fake_ctr(tmp_path, monkeypatch, have), str(tmp_path / "c.sock")
    done = import_image(address, _built(tmp_path), ["ghcr.io/azora/web:2.4.0", "x/old:1", "x/new:1"])
    assert (done.imported, done.tagged) == (False, ("x/new:1", "x/old:1"))
    assert ctr_calls(log) == ["images ls", f"images tag --force {STANDIN_IMAGE} x/new:1 x/old:1"]
    assert log.read_text().startswith(f"--address {address} ")
    log.write_text("")
    assert import_image(address, _built(tmp_path), ["ghcr.io/azora/web:2.4.0"]).tagged == ()
    assert ctr_calls(log) == ["images ls"]


def test_an_image_containerd_lacks_is_imported_then_tagged(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    log = fake_ctr(tmp_path, monkeypatch, {"ghcr.io/azora/web:2.4.0": "sha256:" + "b" * 64})
    done = import_image(str(tmp_path / "c.sock"), _built(tmp_path), ["ghcr.io/azora/web:2.4.0"], snapshotter="native")
    assert (done.imported, done.tagged) == (True, ("ghcr.io/azora/web:2.4.0",))
    assert ctr_calls(log) == [
        "images ls",
        f"images import --snapshotter native {tmp_path / 'image.tar'}",
        f"images tag --force {STANDIN_IMAGE} ghcr.io/azora/web:2.4.0",
    ]


def test_a_ctr_failure_is_one_line_naming_the_image_and_ctr_stderr(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    fake_ctr(tmp_path, monkeypatch, {}, fail="images import")
    address = str(tmp_path / "c.sock")
    with pytest.raises(ImageError) as caught:
        import_image(address, _built(tmp_path), ["ghcr.io/azora/web:2.4.0"])
    assert str(caught.value) == (
        f"importing {STANDIN_IMAGE} from {tmp_path / 'image.tar'} in containerd at {address} failed: "
        "failed to dial: connection refused"
    )
    with pytest.raises(ImageError, match=f"^importing {STANDIN_IMAGE}: there is no containerd socket at /nowhere/"):
        import_image("/nowhere/c.sock", _built(tmp_path), [])


def test_parse_image_list_and_the_mmdebstrap_recipe(tmp_path: Path) -> None:
    listing = "REF TYPE DIGEST SIZE PLATFORMS LABELS\nghcr.io/a:1 oci sha256:1 20.7 MiB linux/amd64 io.cri=managed\n"
    assert parse_image_list(listing) == {"ghcr.io/a:1": "sha256:1"}
    command = rootfs.mmdebstrap_command(recipes.STANDIN, tmp_path / "out.tar", tmp_path / "pkgs.tsv")
    assert command[:3] == ["mmdebstrap", "--variant=extract", "--include=python3,python3-prometheus-client"]
    filters = [arg.removeprefix("--dpkgopt=") for arg in command if arg.startswith("--dpkgopt=")]
    assert filters == [f"path-exclude={pattern}" for pattern in recipes.STANDIN.path_excludes]
    hooks = [arg for arg in command if arg.startswith("--extract-hook=")]
    assert len(hooks) == 2 and "dpkg-deb --show" in hooks[0] and "compileall" in hooks[1]
    assert command[-3:] == ["bookworm", str(tmp_path / "out.tar"), "http://deb.debian.org/debian"]
    assert rootfs.parse_package_list("b\t2\tall\na\t1:1.0\tamd64\n\n") == {"a": "1:1.0", "b": "2"}


def test_the_standin_recipe_keeps_the_cache_key_it_had_before_recipes() -> None:
    before = {  # rootfs_key() as it was when the stand-in's layer had no recipe
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


def test_the_standin_layer_needs_python3_a_link_leading_nowhere_is_missing(tmp_path: Path) -> None:
    dangling = [
        dir_entry("usr"),
        dir_entry("usr/bin"),
        Entry("usr/bin/python3", tarfile.SYMTYPE, linkname="python3.11"),
    ]
    missing = ["usr/bin/python3 is missing (a file the stand-in image needs)"]
    assert rootfs.layer_problems(dangling, recipes.STANDIN) == missing
    whole = [*dangling, file_entry("usr/bin/python3.11", b"\x7fELF", 0o755)]
    whole.append(Entry("etc/rmt", tarfile.SYMTYPE, linkname="/usr/sbin/rmt"))  # an alternative never made: fine
    assert rootfs.layer_problems(whole, recipes.STANDIN) == []
    source = tmp_path / "rootfs.tar"
    write_tar(source, [tar_member("./usr/bin/python3", type=tarfile.SYMTYPE, linkname="python3.11")])
    with pytest.raises(ImageError) as caught:
        rootfs.layer_from_tar(source, tmp_path / "layer.tar.gz", recipes.STANDIN)
    assert str(caught.value) == f"the Debian layer of the stand-in image is incomplete: {missing[0]}"
    assert not (tmp_path / "layer.tar.gz").exists()
