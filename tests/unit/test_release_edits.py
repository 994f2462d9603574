"""What each release step writes into the real stack files: the exact lines that change.

The engine is replaced by a recorder (the real engine runs the same steps in
tests/integration/test_release_cli.py); everything else is the product's code on copies of the
repository's `Pulumi.production.yaml` and `Pulumi.staging.yaml`, comments and all.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from azora import release
from azora import rollback as rollbacks
from azora.engine import StackFileMixin
from azora.errors import ExitCode
from tests.unit.history_support import history_page

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class RecordingHandle:
    """The engine's side of a stack: records updates, serves history and config from the file."""

    def __init__(self, stack_file: Path, history: list[auto.UpdateSummary] | None = None):
        self.stack_file = stack_file
        self.updates: list[str] = []
        self._history = history or []
        self.config_writes: list[str] = []

    def up(self, message: str | None = None, **_: Any) -> Any:
        self.updates.append(message or "")
        return auto.UpResult(stdout="", stderr="", summary=_summary(), outputs={})

    def history(
        self, page_size: int | None = None, page: int | None = None, show_secrets: bool = False
    ) -> list[auto.UpdateSummary]:
        return history_page(self._history, page_size, page)

    def get_all_config(self) -> dict[str, auto.ConfigValue]:
        values = {}
        for key, value in FileTarget(self.stack_file).azora_config().items():
            if isinstance(value, dict) and set(value) == {"secure"}:
                values[f"azora:{key}"] = auto.ConfigValue(f"plaintext-{key}", secret=True)  # decrypted
            else:
                values[f"azora:{key}"] = auto.ConfigValue(value if isinstance(value, str) else json.dumps(value))
        return values

    def set_config(self, key: str, value: auto.ConfigValue) -> None:
        self.config_writes.append(f"set {key}")

    def remove_config(self, key: str) -> None:
        self.config_writes.append(f"remove {key}")


def _summary() -> auto.UpdateSummary:
    return auto.UpdateSummary("update", NOW, "", {}, {}, "succeeded", resource_changes={"update": 2})


class FileTarget(StackFileMixin):
    def __init__(self, stack_file: Path, history: list[auto.UpdateSummary] | None = None):
        self.stack = "production"
        self.stack_file = stack_file
        self.handle = RecordingHandle(stack_file, history)


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileTarget:
    path = tmp_path / "Pulumi.production.yaml"
    shutil.copy(ROOT / "Pulumi.production.yaml", path)
    monkeypatch.setattr(release, "now", lambda: NOW)
    return FileTarget(path)


def changed_lines(before: str, after: str) -> list[str]:
    """The diff's changed lines only (`-old` / `+new`), as a reviewer reads a PR."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_deploy_changes_one_version_line_and_one_status_line(production: FileTarget) -> None:
    before = production.stack_file.read_text()
    result = release.deploy(production, "payment", "2.1.0")
    assert (result.color, result.version) == ("green", "2.1.0")
    assert changed_lines(before, production.stack_file.read_text()) == [
        '-      versions: {blue: "2.0.4", green: "2.0.4"}',
        '+      versions: {blue: "2.0.4", green: "2.1.0"}',
        "-    payment: {activeColor: blue}",
        "+    payment: {activeColor: blue, idleScaledUp: true}",
    ]
    assert production.handle.updates == ["azora deploy payment 2.1.0 to green (preview)"]


def test_promote_changes_only_the_status_line_of_the_service(production: FileTarget) -> None:
    release.deploy(production, "payment", "2.1.0")
    before = production.stack_file.read_text()
    result = release.promote(production, "payment")
    assert (result.from_color, result.to_color, result.switched_back) == ("blue", "green", False)
    assert changed_lines(before, production.stack_file.read_text()) == [
        "-    payment: {activeColor: blue, idleScaledUp: true}",
        "+    payment: {activeColor: green, idleScaledUp: true, promotedAt: '2026-12-01T12:00:00+00:00'}",
    ]


def test_a_failed_post_check_switches_back_and_records_it(production: FileTarget) -> None:
    release.deploy(production, "payment", "2.1.0")
    result = release.promote(production, "payment", smoke=lambda service, preview: ["payment: HTTP 503"])
    assert result.switched_back and result.smoke_failures == ["payment: HTTP 503"]
    assert production.handle.updates[-2:] == [
        "azora promote payment to green",
        "azora promote payment: switched back to blue (payment: HTTP 503)",
    ]
    status = production.azora_config()["status"]["payment"]
    assert status == {"activeColor": "blue", "idleScaledUp": True, "promotedAt": "2026-12-01T12:00:00+00:00"}


def test_scale_down_after_the_delay_drops_the_idle_scale_up(
    production: FileTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    release.deploy(production, "payment", "2.1.0")
    release.promote(production, "payment")
    assert release.scale_down(production) == []  # the delay has not passed
    monkeypatch.setattr(release, "now", lambda: NOW + dt.timedelta(seconds=31))
    before = production.stack_file.read_text()
    assert release.scale_down(production) == ["payment"]
    assert changed_lines(before, production.stack_file.read_text()) == [
        "-    payment: {activeColor: green, idleScaledUp: true, promotedAt: '2026-12-01T12:00:00+00:00'}",
        "+    payment: {activeColor: green, promotedAt: '2026-12-01T12:00:00+00:00'}",
    ]


def test_comments_and_the_rest_of_the_file_survive_every_step(production: FileTarget) -> None:
    original = production.stack_file.read_text()
    release.deploy(production, "web", "2.5.0")
    release.promote(production, "web")
    release.scale_down(production, force=True)
    text = production.stack_file.read_text()
    assert text.splitlines()[:2] == original.splitlines()[:2]  # the header comment
    untouched = [line for line in original.splitlines() if "web" not in line and "2.4.0" not in line]
    assert all(line in text.splitlines() for line in untouched)
    assert len(changed_lines(original, text)) == 4  # web's versions line and status line


def test_a_step_the_engine_refuses_leaves_the_file_as_it_was(production: FileTarget) -> None:
    from azora.engine import UpdateError

    def refuse(**_: Any) -> Any:
        raise UpdateError("the policy pack refused the update of production")

    before = production.stack_file.read_text()
    production.handle.up = refuse  # type: ignore[method-assign]
    with pytest.raises(UpdateError, match="Pulumi.production.yaml is unchanged"):
        release.deploy(production, "payment", "2.1.0")
    assert production.stack_file.read_text() == before


def test_an_unknown_service_is_bad_input_and_writes_nothing(production: FileTarget) -> None:
    before = production.stack_file.read_text()
    with pytest.raises(release.ReleaseError, match="no service 'paymnt'") as refused:
        release.deploy(production, "paymnt", "2.1.0")
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert production.stack_file.read_text() == before and production.handle.updates == []


def test_a_file_in_the_old_layout_is_moved_to_azora_status_on_the_first_step(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.staging.yaml").read_text()
    old = text.split("  # Release state")[0].replace(
        '      versions: {blue: "2.0.4", green: "2.0.4"}\n',
        '      versions: {blue: "2.0.4", green: "2.0.4"}\n      activeColor: blue\n',
    )
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(old)
    target = FileTarget(path)
    release.deploy(target, "payment", "2.0.5")
    lines = changed_lines(old, path.read_text())
    assert "-      activeColor: blue" in lines
    assert '+      versions: {blue: "2.0.4", green: "2.0.5"}' in lines
    assert lines[-1] == "+    payment: {activeColor: blue, idleScaledUp: true}"
    assert "activeColor" not in target.azora_config()["services"]["payment"]


def _entry(message: str, config: dict[str, Any]) -> auto.UpdateSummary:
    values = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[f"azora:{key}"] = {"value": f"plaintext-{key}", "secret": True}
        else:
            values[f"azora:{key}"] = {"value": value if isinstance(value, str) else json.dumps(value), "secret": False}
    return auto.UpdateSummary("update", NOW, message, {}, values, "succeeded")


def test_a_rollback_to_an_update_made_before_azora_status_restores_its_colours(tmp_path: Path) -> None:
    """History made before the change: release state under `services`. The rollback plans in
    today's layout, and writes only the lines whose values differ."""
    path = tmp_path / "Pulumi.production.yaml"
    shutil.copy(ROOT / "Pulumi.production.yaml", path)
    target = FileTarget(path)
    old = target.azora_config()
    status = old.pop("status")
    for name, record in status.items():
        old["services"][name].update(record)
    old["services"]["auth"]["activeColor"] = "green"
    old["services"]["auth"]["versions"] = {"blue": "1.4.9", "green": "1.5.0"}
    target.handle._history = [_entry("azora up (before azora:status)", old)]
    before = path.read_text()

    plan = rollbacks.plan_rollback(target, to_version=1)
    assert [(c.key, c.before, c.after) for c in plan.changes] == [
        ("azora:services.auth.versions.blue", "1.5.0", "1.4.9"),
        ("azora:status.auth.activeColor", "blue", "green"),
    ]
    rollbacks.rollback(target, plan)
    assert changed_lines(before, path.read_text()) == [
        '-      versions: {blue: "1.5.0", green: "1.5.0"}',
        '+      versions: {blue: "1.4.9", green: "1.5.0"}',
        "-    auth: {activeColor: blue}",
        "+    auth: {activeColor: green}",
    ]
    assert target.handle.updates == ["azora rollback to update 1"]
    assert target.handle.config_writes == []  # the secrets did not change: not rewritten
    assert rollbacks.history(target)[0].services["auth"] == {
        "activeColor": "green",
        "versions": {"blue": "1.4.9", "green": "1.5.0"},
        "verified": False,
        "verifiedAt": None,
    }


def test_without_yes_a_step_shows_both_diffs_and_a_no_puts_the_file_back(
    production: FileTarget, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The prompt of `azora deploy` without --yes: the stack file's diff and the engine's
    per-resource diff, then the question; answering no applies nothing and restores the file."""
    from azora.commands import release as command
    from azora.commands.stack import Cancelled

    urn = (
        "urn:pulumi:production::azora-platform::azora:deploy:BlueGreenService"
        "$kubernetes:apps/v1:Deployment::payment-green"
    )
    pre = {
        "metadata": {
            "op": "update",
            "urn": urn,
            "type": "kubernetes:apps/v1:Deployment",
            "provider": "",
            "detailedDiff": {"spec.replicas": {"diffKind": "update"}},
        }
    }

    def preview(on_event: Any = None, **_: Any) -> auto.PreviewResult:
        on_event(auto.events.EngineEvent.from_json({"sequence": 1, "timestamp": 0, "resourcePreEvent": pre}))
        return auto.PreviewResult(stdout="", stderr="", change_summary={auto.OpType.UPDATE: 1})

    production.handle.preview = preview  # type: ignore[attr-defined]
    asked: list[str] = []
    monkeypatch.setattr(command.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(command.typer, "confirm", lambda question, **_: asked.append(question) or False)
    before = production.stack_file.read_text()
    with pytest.raises(Cancelled, match="nothing was applied and the stack file is unchanged"):
        release.deploy(production, "payment", "2.1.0", confirm=command._confirmer(False, "deploy payment 2.1.0?"))
    shown = capsys.readouterr().err
    assert '+      versions: {blue: "2.0.4", green: "2.1.0"}' in shown
    assert "~ update   payment-green (kubernetes:apps/v1:Deployment): spec.replicas" in shown
    assert asked == ["deploy payment 2.1.0?"]
    assert production.stack_file.read_text() == before and production.handle.updates == []
