"""Round-trip stack-file edits: only the lines whose values change differ."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from azora.config.errors import ConfigError
from azora.stackfile import StackFile

ROOT = Path(__file__).resolve().parents[2]
TEXT = """\
# a header comment
config:
  azora:environment: staging   # trailing comment
  azora:services:
    web:
      versions: {blue: "1.0.0", green: '1.0.0'}
      talksTo: [auth]
      env:
        A: "1"
"""


def _diff(before: str, after: str) -> list[str]:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_the_repository_files_round_trip_to_the_same_text(stack: str) -> None:
    document = StackFile.read(ROOT / f"Pulumi.{stack}.yaml")
    assert document.text() == (ROOT / f"Pulumi.{stack}.yaml").read_text()


def test_a_changed_scalar_keeps_its_quotes_and_nothing_else_moves(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(TEXT)
    document = StackFile.read(path)
    document.set(["services", "web", "versions", "blue"], "1.1.0")
    document.set(["services", "web", "versions", "green"], "1.2.0")
    assert document.save() is True
    assert _diff(TEXT, path.read_text()) == [
        """-      versions: {blue: "1.0.0", green: '1.0.0'}""",
        """+      versions: {blue: "1.1.0", green: '1.2.0'}""",
    ]


def test_merge_changes_only_differing_leaves_and_removes_what_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(TEXT)
    document = StackFile.read(path)
    services = document.azora()["services"]
    services["web"]["talksTo"] = ["auth", "payment"]
    del services["web"]["env"]
    document.merge("services", services)
    document.save()
    assert _diff(TEXT, path.read_text()) == [
        "-      talksTo: [auth]",
        "-      env:",
        '-        A: "1"',
        "+      talksTo: [auth, payment]",
    ]


def test_an_unchanged_document_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(TEXT)
    document = StackFile.read(path)
    document.merge("services", document.azora()["services"])
    assert document.save() is False


def test_a_new_status_entry_is_one_flow_line_under_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(TEXT)
    document = StackFile.read(path)
    document.set(["status", "web"], {"activeColor": "green"}, comment="release state")
    document.save()
    assert _diff(TEXT, path.read_text()) == ["+  # release state", "+  azora:status:", "+    web: {activeColor: green}"]


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(TEXT + "  azora:environment: production\n")
    with pytest.raises(ConfigError) as refused:
        StackFile.read(path)
    assert str(refused.value) == (
        "Pulumi.staging.yaml: config: duplicate key azora:environment at lines 3 and 10; keep one (line 10)"
    )
