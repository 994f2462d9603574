"""The CLI's entry: version, the project found like pulumi finds it, the one error handler and
its exit codes, safe backends, read-only commands that never start a toolchain build."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azora.cli import app, version
from azora.errors import MEANINGS, ExitCode
from azora.project import Project, ProjectNotFound

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """Another checkout of the project: its own Pulumi.yaml and stack files."""
    root = tmp_path / "other-clone"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"):
        shutil.copy(ROOT / name, root / name)
    (root / "k8s" / "deep").mkdir(parents=True)
    return root


@pytest.fixture
def no_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZORA_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("AZORA_PROJECT_DIR", raising=False)


def test_version_is_the_installed_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"azora {version()}\n"
    assert version() == "0.1.0"


def test_exit_codes_are_distinct_and_documented() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4]
    assert set(MEANINGS) == set(ExitCode)


def test_the_project_is_the_nearest_parent_holding_pulumi_yaml(clone: Path) -> None:
    project = Project.find(clone / "k8s" / "deep")
    assert (project.root, project.name) == (clone, "azora-platform")
    assert project.stack_file("staging") == clone / "Pulumi.staging.yaml"
    assert project.stacks() == ["local", "production", "staging"]
    assert project.state_dir == clone / ".azora" / "state"


def test_no_project_anywhere_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFound, match="no Pulumi.yaml in .* or any parent"):
        Project.find(tmp_path)
    result = runner.invoke(app, ["-C", str(tmp_path), "history", "--stack", "local"])
    assert result.exit_code == 2
    assert "run azora inside a Pulumi project, or pass -C DIR" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_unreadable_project_file_is_bad_input(clone: Path) -> None:
    (clone / "Pulumi.yaml").write_bytes("name: café\n".encode("latin-1"))
    result = runner.invoke(app, ["-C", str(clone), "history", "--stack", "local"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"{clone / 'Pulumi.yaml'}: cannot read the project file:" in message
    assert "cannot read the project file: not UTF-8 text (byte 0xe9 at offset 9)" in message
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_unknown_stack_names_the_project_and_its_stacks(clone: Path, no_toolchain: None) -> None:
    result = runner.invoke(app, ["-C", str(clone / "k8s"), "history", "--stack", "prod"])
    assert result.exit_code == 2
    assert f"Pulumi.prod.yaml not found in {clone} (stacks: local, production, staging)" in result.output


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_shared_stacks_refuse_an_implicit_local_backend_before_anything_else(
    clone: Path, no_toolchain: None, stack: str
) -> None:
    result = runner.invoke(app, ["-C", str(clone), "history", "--stack", stack])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"stack '{stack}' ({stack}) needs a shared backend and PULUMI_BACKEND_URL is not set" in text
    assert f"PULUMI_BACKEND_URL=file://{clone}/.azora/state" in text
    assert "README.md#backends-and-secrets" in text
    assert not (clone / ".azora").exists()  # nothing was made


def test_read_only_commands_say_how_to_get_the_tools_instead_of_building(
    clone: Path, no_toolchain: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{clone}/state")  # explicit: allowed
    for args in (["history", "--stack", "staging"], ["preview", "--stack", "production"]):
        started = time.monotonic()
        result = runner.invoke(app, ["-C", str(clone), *args])
        assert result.exit_code == 1, result.output
        assert "the Pulumi toolchain is not installed: run `azora tools install`" in " ".join(result.output.split())
        assert "building" not in result.output
        assert time.monotonic() - started < 30  # a build takes minutes; this only looked


def test_a_bad_stack_file_is_bad_input_naming_file_key_and_line(clone: Path, no_toolchain: None) -> None:
    path = clone / "Pulumi.local.yaml"
    path.write_text(path.read_text().replace("replicas: 1", "replicas: 0", 1))
    result = runner.invoke(app, ["-C", str(clone), "deploy", "-s", "local", "--service", "web", "--version", "2.5.0"])
    assert result.exit_code == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "replicas: 0" in text)
    assert f"Pulumi.local.yaml: azora:services.web.replicas: must be >= 1, got 0 (line {line})" in result.output


def test_history_max_must_be_positive(clone: Path) -> None:
    result = runner.invoke(app, ["-C", str(clone), "history", "--stack", "local", "--max", "0"])
    assert result.exit_code == 2
    assert "--max" in result.output


def test_ctrl_c_exits_130_with_a_message_and_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import azora.commands.config as config_command

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(config_command, "read_stack_file", interrupted)
    result = runner.invoke(app, ["config", "check", str(ROOT / "Pulumi.local.yaml")])
    assert result.exit_code == 130, result.output
    assert "interrupted: the engine was told to stop" in result.output
    assert "Traceback" not in result.output


def test_a_closed_pipe_in_an_engine_reader_thread_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    from azora.cli import _quiet_stream_readers

    def hook(error: BaseException) -> None:
        try:
            raise error
        except BaseException as exc:  # noqa: BLE001 - the hook gets whatever the thread raised
            _quiet_stream_readers(threading.ExceptHookArgs((type(exc), exc, exc.__traceback__, None)))

    hook(ValueError("I/O operation on closed file"))
    assert capsys.readouterr().err == ""
    hook(RuntimeError("something else"))
    assert "RuntimeError: something else" in capsys.readouterr().err
