"""Rollback planning and its refusals, on a stack file and a stand-in for the engine's history
(the real engine's rollback runs in tests/integration/test_release_cli.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from azora import release
from azora import rollback as rollbacks
from azora.engine import StackFileMixin
from tests.unit.history_support import history_page

BASE = {"azora:environment": "staging", "azora:namespace": "azora-staging", "azora:domain": "staging.azora.test"}
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SERVICES_V1 = {
    "web": {
        "image": "ghcr.io/azora/web",
        "versions": {"blue": "1.0.0"},
        "activeColor": "blue",
        "port": 3000,
        "healthPath": "/health",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
    }
}


def entry(message: str, config: dict[str, Any], result: str = "succeeded") -> auto.UpdateSummary:
    values = {
        key: {"value": value if isinstance(value, str) else json.dumps(value), "secret": False}
        for key, value in config.items()
    }
    return auto.UpdateSummary("update", START, message, {}, values, result)


class FakeHandle:
    """History and config as the Automation API returns them; config writes are recorded."""

    def __init__(self, history: list[auto.UpdateSummary], stack_file: Path):
        self._history = history
        self.stack_file = stack_file
        self.writes: list[str] = []

    def history(
        self, page_size: int | None = None, page: int | None = None, show_secrets: bool = False
    ) -> list[auto.UpdateSummary]:
        return history_page(self._history, page_size, page)

    def get_all_config(self) -> dict[str, auto.ConfigValue]:
        document = yaml.safe_load(self.stack_file.read_text())["config"]
        return {
            key: auto.ConfigValue(value if isinstance(value, str) else json.dumps(value))
            for key, value in document.items()
        }

    def remove_config(self, key: str) -> None:
        self.writes.append(f"remove {key}")

    def set_config(self, key: str, value: auto.ConfigValue) -> None:
        self.writes.append(f"set {key}")


class FileTarget(StackFileMixin):
    def __init__(self, stack_file: Path, history: list[auto.UpdateSummary]):
        self.stack = "staging"
        self.stack_file = stack_file
        self.handle = FakeHandle(history, stack_file)


def stack_file(tmp_path: Path, services: dict[str, Any]) -> Path:
    path = tmp_path / "Pulumi.staging.yaml"
    config = {**BASE, "azora:services": services}
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def test_the_default_target_skips_release_steps_and_failed_updates(tmp_path: Path) -> None:
    v2 = {"web": {**SERVICES_V1["web"], "versions": {"blue": "1.0.0", "green": "2.0.0"}, "activeColor": "green"}}
    history = [
        entry("azora promote web to green", {**BASE, "azora:services": v2}),
        entry("broken", {**BASE, "azora:services": SERVICES_V1}, result="failed"),
        entry("azora deploy web 2.0.0 to green (preview)", {**BASE, "azora:services": SERVICES_V1}),
        entry("release v1", {**BASE, "azora:services": SERVICES_V1}),
    ]
    target = FileTarget(stack_file(tmp_path, v2), history)
    plan = rollbacks.plan_rollback(target)
    assert (plan.version, plan.message) == (1, "release v1")
    assert [(c.key, c.before, c.after) for c in plan.changes] == [
        ("azora:services.web.versions.green", "2.0.0", "(unset)"),
        ("azora:status.web.activeColor", "green", "blue"),
    ]

    with pytest.raises(release.ReleaseError, match="update 3 failed; roll back only to a successful update"):
        rollbacks.plan_rollback(target, to_version=3)


def test_an_entry_the_config_model_no_longer_accepts_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    # An older schema: `replicas` as a word. The entry succeeded then; today's model refuses it.
    old = {"web": {**SERVICES_V1["web"], "replicas": "two"}}
    current = {"web": {**SERVICES_V1["web"], "versions": {"blue": "1.1.0"}}}
    history = [
        entry("release v1.1", {**BASE, "azora:services": current}),
        entry("release v1 (old schema)", {**BASE, "azora:services": old}),
    ]
    path = stack_file(tmp_path, current)
    before = path.read_text()
    target = FileTarget(path, history)
    plan = rollbacks.plan_rollback(target)
    assert plan.version == 1

    with pytest.raises(release.ReleaseError) as refused:
        rollbacks.rollback(target, plan)
    message = str(refused.value)
    assert message.splitlines() == [
        "update 1 of stack staging: azora:services.web.replicas: must be an integer, got the string 'two'",
        "update 1's config no longer passes the config model; pick another",
    ]
    assert path.read_text() == before
    assert target.handle.writes == []


def test_a_history_longer_than_a_page_is_numbered_and_rolled_back_in_full(tmp_path: Path) -> None:
    # `pulumi stack history` lists 10 updates unless asked for all: with 12, a rollback to the
    # first must still find it, and every update keeps its own number.
    v2 = {"web": {**SERVICES_V1["web"], "versions": {"blue": "1.0.0", "green": "2.0.0"}, "activeColor": "green"}}
    steps = [entry(f"azora promote web to green ({n})", {**BASE, "azora:services": v2}) for n in range(11, 1, -1)]
    history = [*steps, entry("release v1", {**BASE, "azora:services": SERVICES_V1})]
    target = FileTarget(stack_file(tmp_path, v2), history)
    assert [row.version for row in rollbacks.history(target)] == list(range(11, 0, -1))
    plan = rollbacks.plan_rollback(target, to_version=1)
    assert (plan.version, plan.message) == (1, "release v1")
    assert rollbacks.history(target, limit=3)[-1].version == 9
