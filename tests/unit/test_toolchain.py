"""azora.toolchain without network or builds: pins, cache paths, stamps, wrapper
modules, the environment it gives pulumi, and the messages users see."""

from __future__ import annotations

import json
import os
import re
import stat
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azora import toolchain as tc
from azora.cli import app as azora_app
from azora.toolchain import gobuild, install
from azora.toolchain.discovery import system_toolchain

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def pins() -> tc.Pins:
    return tc.Pins.load()


def _pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    found = {}
    for dep in deps:
        name, _, version = dep.partition("==")
        found[name.strip()] = version.strip()
    return found


# ------------------------------------------------------------------ pins


def test_pins_match_the_python_sdk_pins_in_pyproject(pins: tc.Pins) -> None:
    pinned = _pyproject_pins()
    for name, version in pins.sdk_versions.items():
        assert pinned.get(name) == version, f"pyproject pins {name}=={pinned.get(name)}, pins.toml {version}"


def test_plugins_carry_the_sdk_versions(pins: tc.Pins) -> None:
    assert pins.plugins == {"kubernetes": pins.kubernetes, "random": pins.random}


def test_local_go_modules_follow_the_pins(pins: tc.Pins) -> None:
    langhost = (ROOT / "toolchain/python-langhost/go.mod").read_text()
    assert f"github.com/pulumi/pulumi/sdk/v3 v{pins.pulumi}" in langhost
    random = (ROOT / "toolchain/random-provider/go.mod").read_text()
    assert f"github.com/terraform-providers/terraform-provider-random {pins.random_terraform_provider}" in random
    shim = (ROOT / "toolchain/random-provider/shim/go.mod").read_text()
    assert "module github.com/terraform-providers/terraform-provider-random/shim" in shim


def test_module_versions_are_canonical(pins: tc.Pins) -> None:
    # The reachable proxy refuses queries like @latest or @<commit>: only exact
    # canonical versions work, so the pins must be written that way.
    canonical = re.compile(r"^v\d+\.\d+\.\d+(-\d{14}-[0-9a-f]{12})?$")
    for version in (
        pins.pulumi_module_version,
        pins.kubernetes_module_version,
        pins.kubernetes_sdk_module_version,
        pins.cluster_etcd,
        pins.cluster_kubernetes,
        pins.cluster_kwok,
        pins.cluster_coredns,
    ):
        assert canonical.match(version), version
    assert pins.pulumi_module_version == f"v{pins.pulumi}"


def test_missing_pins_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(tc.ToolchainError, match="missing"):
        tc.Pins.load(tmp_path / "pins.toml")


def test_pins_file_without_a_key_names_it(tmp_path: Path) -> None:
    path = tmp_path / "pins.toml"
    path.write_text('[sdk]\npulumi = "3.0.0"\n')
    with pytest.raises(tc.ToolchainError, match="pulumi-kubernetes"):
        tc.Pins.load(path)


def test_pins_file_without_the_coredns_pin_names_it(tmp_path: Path) -> None:
    text = tc.PINS_FILE.read_text()
    assert '\ncoredns = "v1.13.1"\n' in text
    path = tmp_path / "pins.toml"
    path.write_text(text.replace('\ncoredns = "v1.13.1"\n', "\n"))
    with pytest.raises(tc.ToolchainError, match="coredns"):
        tc.Pins.load(path)


def test_cluster_pins(pins: tc.Pins) -> None:
    assert (pins.cluster_etcd, pins.cluster_kubernetes, pins.cluster_kwok, pins.cluster_coredns) == (
        "v3.6.5",
        "v1.34.1",
        "v0.7.0",
        "v1.13.1",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("v3.259.0", (3, 259, 0)), ("3.259.0", (3, 259, 0)), ("go1.26.8", (1, 26, 8)), ("go1.25", (1, 25, 0))],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert tc.parse_version(text) == expected


@pytest.mark.parametrize(
    ("cli", "sdk", "ok"),
    [
        ("3.259.0", "3.259.0", True),
        ("v3.272.0", "3.259.0", True),
        ("3.200.0", "3.259.0", False),
        ("4.0.0", "3.259.0", False),
        ("garbage", "3.259.0", False),
    ],
)
def test_cli_compatibility(cli: str, sdk: str, ok: bool) -> None:
    assert tc.is_compatible_cli(cli, sdk) is ok


# ------------------------------------------------------------------ paths


def test_cache_root_precedence(tmp_path: Path) -> None:
    assert tc.cache_root({"AZORA_CACHE_DIR": str(tmp_path / "a"), "XDG_CACHE_HOME": "/x"}) == tmp_path / "a"
    assert tc.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "azora"
    assert tc.cache_root({}) == Path.home() / ".cache" / "azora"


def test_toolchain_dir_is_named_after_the_versions(pins: tc.Pins, tmp_path: Path) -> None:
    path = tc.toolchain_dir(pins, {"AZORA_CACHE_DIR": str(tmp_path)})
    assert path == tmp_path / "toolchain" / f"pulumi-{pins.pulumi}_kubernetes-{pins.kubernetes}_random-{pins.random}"


# ------------------------------------------------------------------ pieces and stamps


def test_pulumi_group_builds_every_binary_the_engine_needs(pins: tc.Pins) -> None:
    outputs = {o for p in tc.pieces_for(pins, ["pulumi"]) for o in p.outputs}
    assert {
        "pulumi",
        "pulumi-language-python",
        "pulumi-language-python-exec",
        "pulumi-resource-kubernetes",
        "pulumi-resource-random",
    } <= outputs
    plugins = {p.plugin[1]: p.plugin[2] for p in tc.pieces_for(pins, ["pulumi"]) if p.plugin}
    assert plugins == pins.plugins


def test_version_variables_are_set_at_link_time(pins: tc.Pins) -> None:
    flags = {b.output: b.xflags for p in tc.pieces_for(pins, ["pulumi"]) for b in p.binaries}
    assert flags["pulumi"] == (f"github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{pins.pulumi}",)
    assert any(f.endswith(f"pkg/version.Version={pins.kubernetes}") for f in flags["pulumi-resource-kubernetes"])
    assert any(f.endswith(f"version.Version={pins.random}") for f in flags["pulumi-resource-random"])


def test_local_pieces_exist(pins: tc.Pins) -> None:
    locals_ = [p.local for p in tc.pieces_for(pins, ["pulumi", "cluster"]) if p.local]
    assert locals_ == ["python-langhost", "random-provider", "pause", "coredns"]
    for local in locals_:
        assert (tc.TOOLCHAIN_SRC / local / "go.mod").is_file()


def test_unknown_group_is_a_clear_error(pins: tc.Pins) -> None:
    with pytest.raises(tc.ToolchainError, match="unknown toolchain group"):
        tc.pieces_for(pins, ["pulumi", "nope"])


def _fake_build(root: Path, piece: tc.Piece) -> None:
    for name in piece.outputs:
        path = tc.output_path(root, piece, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
    tc.write_stamp(root, piece, 12.5)


def test_stamp_makes_a_piece_fresh_until_its_output_or_description_changes(pins: tc.Pins, tmp_path: Path) -> None:
    piece = tc.pieces_for(pins, ["pulumi"])[0]
    assert not tc.is_fresh(tmp_path, piece)
    _fake_build(tmp_path, piece)
    assert tc.is_fresh(tmp_path, piece)
    assert json.loads(tc.stamp_path(tmp_path, piece).read_text())["seconds"] == 12.5

    changed = tc.Piece(**{**piece.__dict__, "version": "v3.0.0"})
    assert not tc.is_fresh(tmp_path, changed)

    tc.output_path(tmp_path, piece, piece.outputs[0]).unlink()
    assert not tc.is_fresh(tmp_path, piece)


def test_provider_binaries_stay_off_path(pins: tc.Pins, tmp_path: Path) -> None:
    # On PATH, a provider makes the engine warn on every run; it is installed as a
    # plugin from plugins/ instead.
    for piece in tc.pieces_for(pins, ["pulumi"]):
        for name in piece.outputs:
            folder = tc.output_path(tmp_path, piece, name).parent.name
            assert folder == ("plugins" if name.startswith("pulumi-resource-") and piece.plugin else "bin")


def test_cache_hit_needs_no_go_and_is_fast(pins: tc.Pins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path))
    root = tc.toolchain_dir(pins)
    for piece in tc.pieces_for(pins, ["pulumi"]):
        _fake_build(root, piece)
    # Patch where the names are looked up: the build path (install) and the Go builder.
    for module in (install, gobuild):
        monkeypatch.setattr(module, "find_go", lambda: pytest.fail("a cache hit must not look for go"))
    started = time.monotonic()
    found = tc.find_toolchain()
    assert time.monotonic() - started < 5
    assert found is not None and found.source == "cache"
    assert found.bin_dir == root / "bin"


def test_find_toolchain_returns_none_when_nothing_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert tc.find_toolchain() is None


# ------------------------------------------------------------------ wrapper go.mod


def test_wrapper_mirrors_replaces_and_maps_sibling_directories(pins: tc.Pins) -> None:
    piece = next(p for p in tc.pieces_for(pins, ["pulumi"]) if p.name == "pulumi")
    replaces = [
        {"Old": {"Path": "github.com/pulumi/pulumi/sdk/v3"}, "New": {"Path": "../sdk"}},
        {
            "Old": {"Path": "github.com/atotto/clipboard"},
            "New": {"Path": "github.com/tgummerer/clipboard", "Version": "v0.0.0-20241001131231-d02d263e614e"},
        },
    ]
    text = tc.wrapper_gomod(piece, replaces, "1.25.11")
    assert f"require github.com/pulumi/pulumi/pkg/v3 {pins.pulumi_module_version}" in text
    assert f"replace github.com/pulumi/pulumi/sdk/v3 => github.com/pulumi/pulumi/sdk/v3 v{pins.pulumi}" in text
    assert (
        "replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
        in text
    )
    assert "go 1.25.11" in text


def test_wrapper_refuses_an_unmapped_directory_replace(pins: tc.Pins) -> None:
    piece = next(p for p in tc.pieces_for(pins, ["pulumi"]) if p.name == "pulumi")
    replaces = [{"Old": {"Path": "example.com/other"}, "New": {"Path": "../other"}}]
    with pytest.raises(tc.ToolchainError, match="example.com/other"):
        tc.wrapper_gomod(piece, replaces, "1.25")


# ------------------------------------------------------------------ environment


def test_env_puts_bin_first_once_and_disables_downloads(tmp_path: Path) -> None:
    toolchain = tc.Toolchain(tmp_path / "bin", "cache", "3.259.0")
    env = toolchain.env({"PATH": f"/usr/bin{os.pathsep}{tmp_path / 'bin'}", "PULUMI_PYTHON_CMD": "/custom/python"})
    assert env["PATH"].split(os.pathsep) == [str(tmp_path / "bin"), "/usr/bin"]
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] == "true"
    assert env["PULUMI_PYTHON_CMD"] == "/custom/python"
    assert toolchain.pulumi == tmp_path / "bin" / "pulumi"
    # Plugins live under $HOME, which pulumi alone would take from the passwd entry instead.
    assert toolchain.env({"HOME": "/ci/home"})["PULUMI_HOME"] == "/ci/home/.pulumi"
    assert toolchain.env({"HOME": "/ci/home", "PULUMI_HOME": "/mine"})["PULUMI_HOME"] == "/mine"


def test_a_system_pulumi_counts_its_plugins_where_the_engine_will_look(
    tmp_path: Path, pins: tc.Pins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in `pulumi` (a unit test's fake) that, like the real one, lists the plugins of
    its PULUMI_HOME: those under $HOME/.pulumi, none elsewhere (the passwd home)."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    listed = json.dumps([{"kind": "resource", "name": n, "version": v} for n, v in pins.plugins.items()])
    fake = bin_dir / "pulumi"
    fake.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = version ] && {{ echo v{pins.pulumi}; exit 0; }}\n'
        f"[ \"$PULUMI_HOME\" = \"{home}/.pulumi\" ] && echo '{listed}' || echo '[]'\n"
    )
    fake.chmod(0o755)
    (bin_dir / "pulumi-language-python").write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PULUMI_HOME", raising=False)
    found = system_toolchain(pins)
    assert found is not None and (found.source, found.bin_dir) == ("system", bin_dir)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "elsewhere"))  # a home without the plugins
    assert system_toolchain(pins) is None


def test_go_env_never_fetches_toolchains_or_checksums() -> None:
    env = tc.go_env({"PATH": "/usr/bin"})
    assert env["GOTOOLCHAIN"] == "local"
    assert env["GOSUMDB"] == "off"
    assert "-mod=mod" in env["GOFLAGS"]


# ------------------------------------------------------------------ messages and CLI


def test_nothing_available_message_says_what_is_missing_and_how_to_install(pins: tc.Pins) -> None:
    message = tc.missing_everything_message(pins, None, None)
    assert "no compatible `pulumi` on PATH" in message
    assert "Go is not installed" in message
    assert "curl -fsSL https://get.pulumi.com | sh" in message
    assert f"pulumi plugin install resource kubernetes {pins.kubernetes}" in message
    old_go = tc.missing_everything_message(pins, Path("/usr/bin/go"), "go1.20.1")
    assert "go1.20.1" in old_go and pins.go_minimum in old_go


def test_install_without_pulumi_or_go_exits_1_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(install, "find_go", lambda: None)
    result = runner.invoke(azora_app, ["tools", "install"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "get.pulumi.com" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_path_prints_only_the_bin_dir(pins: tc.Pins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path))
    root = tc.toolchain_dir(pins)
    for piece in tc.pieces_for(pins, ["pulumi"]):
        _fake_build(root, piece)
    result = runner.invoke(azora_app, ["tools", "path"])
    assert result.exit_code == 0
    assert result.stdout == f"{root / 'bin'}\n"


def test_path_without_a_toolchain_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(azora_app, ["tools", "path"])
    assert result.exit_code == 1
    assert "azora tools install" in result.output


def test_installed_file_is_executable(tmp_path: Path) -> None:
    source = tmp_path / "shim"
    source.write_text("#!/bin/sh\n")
    target = tmp_path / "bin-shim"
    gobuild.install_file(source, target)
    assert target.stat().st_mode & stat.S_IXUSR


# ------------------------------------------------------------------ the shared Go builder


@pytest.mark.parametrize(
    ("version", "ok"),
    [("go1.26.8", True), ("go1.25.0", True), ("go1.24.11", False), (None, False), ("devel", False)],
)
def test_go_satisfies(version: str | None, ok: bool) -> None:
    assert gobuild.go_satisfies(version, "1.25.0") is ok


def test_go_install_env_drops_mod_flags_and_sets_gobin(tmp_path: Path) -> None:
    env = gobuild.go_install_env({"GOFLAGS": "-mod=mod -buildvcs=false", "PATH": "/usr/bin"}, tmp_path)
    assert env["GOBIN"] == str(tmp_path)
    assert env["GOFLAGS"] == "-buildvcs=false"
    assert env["GOTOOLCHAIN"] == "local" and env["CGO_ENABLED"] == "0"
    assert "GOSUMDB" not in env


def _fake_go(tmp_path: Path, script: str) -> Path:
    go = tmp_path / "fake-go"
    go.write_text(f"#!/bin/sh\n{script}\n")
    go.chmod(0o755)
    return go


def test_go_install_puts_the_binary_and_a_record_into_the_target(tmp_path: Path) -> None:
    go = _fake_go(tmp_path, 'printf "#!/bin/sh\\n" > "$GOBIN/tool" && chmod +x "$GOBIN/tool"')
    target = tmp_path / "tools" / "tool-1.0.0"
    target.parent.mkdir()
    path = gobuild.go_install(
        go, "example.com/tool", "v1.0.0", target, binary="tool", base_env={}, timeout=60, label="tool", record={"a": 1}
    )
    assert path == target / "tool" and os.access(path, os.X_OK)
    record = json.loads((target / "build.json").read_text())
    assert record["a"] == 1 and "seconds" in record and "built_at" in record
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_go_install_failure_names_the_command_and_leaves_no_scratch(tmp_path: Path) -> None:
    go = _fake_go(tmp_path, 'echo "module not served" >&2; exit 1')
    target = tmp_path / "tools" / "tool-1.0.0"
    target.parent.mkdir()
    with pytest.raises(tc.ToolchainError, match=r"(?s)building tool failed: .* exited 1\nmodule not served\nask"):
        gobuild.go_install(
            go, "example.com/tool", "v1.0.0", target, binary="tool", base_env={}, timeout=60, label="tool", hint="ask"
        )
    assert list(target.parent.iterdir()) == []
