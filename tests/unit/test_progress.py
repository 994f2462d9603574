"""Live progress and per-resource diffs from the engine's structured events."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pulumi import automation as auto
from rich.console import Console

from azora import progress

URN = "urn:pulumi:staging::azora-platform::azora:deploy:BlueGreenService$kubernetes:core/v1:Service::payment-active"


def event(sequence: int, kind: str, op: str, urn: str = URN, **metadata: Any) -> auto.events.EngineEvent:
    step = {"op": op, "urn": urn, "type": urn.split("::")[-2].rsplit("$", 1)[-1], "provider": "", **metadata}
    return auto.events.EngineEvent.from_json({"sequence": sequence, "timestamp": 0, kind: {"metadata": step}})


def test_changes_name_each_resource_and_the_properties_that_differ() -> None:
    events = [
        event(
            1, "resourcePreEvent", "update", detailedDiff={'spec.selector["azora.io/color"]': {"diffKind": "update"}}
        ),
        event(2, "resourcePreEvent", "same", urn=URN.replace("payment-active", "payment-blue")),
    ]
    found = progress.changes(events)
    assert found == [
        progress.Change("update", "payment-active", "kubernetes:core/v1:Service", ('spec.selector["azora.io/color"]',))
    ]
    assert found[0].line() == '~ update   payment-active (kubernetes:core/v1:Service): spec.selector["azora.io/color"]'


def test_piped_progress_prints_a_plain_line_per_step_with_its_time() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    with progress.progress_view(console, "promoting payment on staging") as view:
        assert view is not None and view.live is None
        view(event(1, "resourcePreEvent", "update"))
        view(event(2, "resOutputsEvent", "update"))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "promoting payment on staging …"
    assert lines[1] == "  update payment-active …"
    assert lines[2].startswith("  update payment-active (kubernetes:core/v1:Service) done in ")
    assert lines[2].endswith(" s")


def test_on_a_terminal_the_view_is_a_live_table_of_steps() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    with progress.progress_view(console, "applying staging") as view:
        assert view is not None and view.live is not None
        view(event(1, "resourcePreEvent", "update"))
        table = view.table()
        assert table.row_count == 1
        view(event(2, "resOpFailedEvent", "update"))
        assert view.steps[URN].failed is True


def test_json_mode_shows_nothing() -> None:
    buffer = io.StringIO()
    with progress.progress_view(Console(file=buffer), "x", enabled=False) as view:
        assert view is None
    assert buffer.getvalue() == ""


def _diagnostic(sequence: int, urn: str, message: str) -> auto.events.EngineEvent:
    return auto.events.EngineEvent.from_json(
        {
            "sequence": sequence,
            "timestamp": 0,
            "diagnosticEvent": {"urn": urn, "message": message, "color": "never", "severity": "error"},
        }
    )


def _policy(sequence: int, urn: str, name: str, level: str, message: str) -> auto.events.EngineEvent:
    return auto.events.EngineEvent.from_json(
        {
            "sequence": sequence,
            "timestamp": 0,
            "policyEvent": {
                "resourceUrn": urn,
                "message": message,
                "color": "never",
                "policyName": name,
                "policyPackName": "azora",
                "policyPackVersion": "0.0.1",
                "policyPackVersionTag": "",
                "enforcementLevel": level,
            },
        }
    )


def test_a_failed_run_reports_each_resource_and_the_api_servers_reason() -> None:
    from azora.engine import failure

    error = auto.errors.CommandError(auto.CommandResult(stdout="", stderr="error: update failed", code=255))
    events = [
        _diagnostic(1, URN, "  * the API server said: replicas: Invalid value: -1\n"),
        _diagnostic(2, "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "update failed"),
    ]
    raised = failure("the update of staging", events, error, "azora deploy")
    assert str(raised) == (
        "the update of staging failed (azora deploy): payment-active (kubernetes:core/v1:Service): "
        "the API server said: replicas: Invalid value: -1"
    )
    assert raised.exit_code == 1 and raised.details == []


def test_a_refusal_lists_the_mandatory_findings_as_detail_lines() -> None:
    from azora.engine import failure

    error = auto.errors.CommandError(auto.CommandResult(stdout="", stderr="error: preview failed", code=255))
    events = [
        _policy(1, URN, "image-tag-pinned", "mandatory", "ghcr.io/azora/web:latest is not pinned"),
        _policy(2, URN, "spread-replicas", "advisory", "one node"),
    ]
    raised = failure("the preview of production", events, error)
    assert str(raised) == "the policy pack refused the preview of production"
    assert raised.details == ["mandatory image-tag-pinned: payment-active: ghcr.io/azora/web:latest is not pinned"]


class _PreviewOnly:
    """A stack whose preview reports the given steps (what `azora up` decides on)."""

    def __init__(self, ops: list[str]):
        self.stack = "staging"
        self.ops = ops
        self.handle = self

    def preview(self, on_event: Any = None, **_: Any) -> auto.PreviewResult:
        for number, op in enumerate(self.ops):
            on_event(event(number, "resourcePreEvent", op))
        return auto.PreviewResult(stdout="", stderr="", change_summary={auto.OpType(op): 1 for op in self.ops})


def test_up_applies_nothing_when_the_preview_changes_nothing() -> None:
    from azora.commands import stack as command

    assert command.preview_then_confirm(_PreviewOnly(["same"]), "apply?", yes=True) is False  # type: ignore[arg-type]
    assert command.preview_then_confirm(_PreviewOnly(["update"]), "apply?", yes=True) is True  # type: ignore[arg-type]


def test_up_without_yes_refuses_to_ask_where_nobody_can_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from azora.commands import stack as command
    from azora.errors import ExitCode

    monkeypatch.setattr(command.sys.stdin, "isatty", lambda: False)
    with pytest.raises(command.BadInput, match="--yes must be passed") as refused:
        command.preview_then_confirm(_PreviewOnly(["update"]), "apply?", yes=False)  # type: ignore[arg-type]
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    monkeypatch.setattr(command.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(command.typer, "confirm", lambda *_, **__: False)
    with pytest.raises(command.Cancelled, match="nothing was applied"):
        command.preview_then_confirm(_PreviewOnly(["update"]), "apply?", yes=False)  # type: ignore[arg-type]
