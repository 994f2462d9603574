"""Verified revisions in the stack's history (`azora history`'s `verified` column) and
`azora rollback --verified`, on a history of the local stack as the release workflow leaves it.

History entries are built as the Automation API returns them: the `azora:` config of each
update, objects as JSON text. The stack file is a copy of the real `Pulumi.local.yaml`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from azora import rollback as rollbacks
from azora.errors import ExitCode
from azora.release import ReleaseError
from tests.unit.test_release_edits import FileTarget

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def at(minute: int) -> str:
    return (START + dt.timedelta(minutes=minute)).isoformat()


def verified(color: str, version: str, minute: int) -> dict[str, str]:
    return {"color": color, "version": version, "at": at(minute)}


def local_values() -> dict[str, Any]:
    return copy.deepcopy(FileTarget(ROOT / "Pulumi.local.yaml").azora_config())


def web(blue: str, green: str, **status: Any) -> dict[str, Any]:
    """The local stack's `azora:` values with web's versions and status as given."""
    values = local_values()
    values["services"]["web"]["versions"] = {"blue": blue, "green": green}
    values["status"]["web"] = {"activeColor": "blue", **status}
    return values


def entry(message: str, values: dict[str, Any], minute: int, result: str = "succeeded") -> auto.UpdateSummary:
    config = {
        f"azora:{key}": {"value": value if isinstance(value, str) else json.dumps(value), "secret": False}
        for key, value in values.items()
    }
    return auto.UpdateSummary("update", START + dt.timedelta(minutes=minute), message, {}, config, result)


GREEN_25 = verified("green", "2.5.0", 4)
BLUE_26 = verified("blue", "2.6.0", 9)

# Oldest first, as they happen; numbered 1.. by position (a file backend leaves `version` empty).
RELEASES = [
    ("azora up", web("2.4.0", "2.4.0")),
    ("azora deploy web 2.5.0 to green (preview)", web("2.4.0", "2.5.0", idleScaledUp=True)),
    (
        "azora promote web to green",
        web(
            "2.4.0",
            "2.5.0",
            activeColor="green",
            idleScaledUp=True,
            promotedAt=at(3),
            analysis={"color": "green", "version": "2.5.0", "at": at(3), "decision": "analyzing"},
        ),
    ),  # fmt: skip
    (
        "azora promote web: verified green 2.5.0 (postPromotion Successful: error-ratio Successful [0, 0])",
        web("2.4.0", "2.5.0", activeColor="green", idleScaledUp=True, promotedAt=at(3), verified=GREEN_25),
    ),  # 4: recorded a new verified revision
    (
        "azora scale-down web",
        web("2.4.0", "2.5.0", activeColor="green", promotedAt=at(3), verified=GREEN_25),
    ),  # 5: the same verified revision, still active
    (
        "azora deploy web 2.6.0 to blue (preview)",
        web("2.6.0", "2.5.0", activeColor="green", idleScaledUp=True, promotedAt=at(3), verified=GREEN_25),
    ),  # 6
    (
        "azora promote web to blue",
        web("2.6.0", "2.5.0", activeColor="blue", idleScaledUp=True, promotedAt=at(8), verified=GREEN_25),
    ),  # 7: the verified revision is on the idle colour now
    (
        "azora promote web: verified blue 2.6.0 (postPromotion Successful: error-ratio Successful [0, 0])",
        web("2.6.0", "2.5.0", activeColor="blue", idleScaledUp=True, promotedAt=at(8), verified=BLUE_26),
    ),  # 8: recorded a new verified revision
    (
        "azora deploy web 2.7.0 to green (preview)",
        web("2.6.0", "2.7.0", activeColor="blue", idleScaledUp=True, promotedAt=at(8), verified=BLUE_26),
    ),  # 9
    (
        "azora promote web: held on green 2.7.0 (postPromotion Inconclusive: ...)",
        web("2.6.0", "2.7.0", activeColor="green", idleScaledUp=True, promotedAt=at(11), verified=BLUE_26),
    ),  # 10: the current state
]


@pytest.fixture
def target(tmp_path: Path) -> FileTarget:
    """The local stack at update 10 (web held on green 2.7.0), with the history above."""
    path = tmp_path / "Pulumi.local.yaml"
    shutil.copy(ROOT / "Pulumi.local.yaml", path)
    history = [entry(message, values, minute) for minute, (message, values) in enumerate(RELEASES, start=1)]
    target = FileTarget(path, history[::-1])
    current = RELEASES[-1][1]
    target.set_azora("services", current["services"])
    target.set_azora("status", current["status"])
    return target


def test_history_marks_only_the_updates_that_recorded_a_new_verified_revision(target: FileTarget) -> None:
    rows = rollbacks.history(target)
    assert [row.version for row in rows] == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert {row.version: row.verified for row in rows} == {
        10: [], 9: [], 8: ["web"], 7: [], 6: [], 5: [], 4: ["web"], 3: [], 2: [], 1: [],
    }  # fmt: skip
    other = {name: svc["verified"] for row in rows for name, svc in row.services.items() if name != "web"}
    assert other == dict.fromkeys(other, False)  # no other service was ever verified


def test_each_rows_service_is_verified_while_its_active_colour_runs_the_verified_revision(target: FileTarget) -> None:
    services = {row.version: row.services["web"] for row in rollbacks.history(target)}
    assert {number: svc["verified"] for number, svc in services.items()} == {
        10: False,  # held on green 2.7.0; blue 2.6.0 was verified
        9: True, 8: True,  # blue 2.6.0, active
        7: False,  # active blue runs 2.6.0; the record is green 2.5.0
        6: True, 5: True, 4: True,  # green 2.5.0, active
        3: False, 2: False, 1: False,
    }  # fmt: skip
    assert (services[8]["verifiedAt"], services[5]["verifiedAt"], services[1]["verifiedAt"]) == (
        at(9), at(4), None,
    )  # fmt: skip
    assert services[10]["activeColor"] == "green" and services[10]["versions"] == {"blue": "2.6.0", "green": "2.7.0"}


def test_a_limited_history_still_compares_its_oldest_row_with_the_update_before(target: FileTarget) -> None:
    rows = rollbacks.history(target, limit=6)
    assert [(row.version, row.verified) for row in rows] == [(10, []), (9, []), (8, ["web"]), (7, []), (6, []), (5, [])]


def test_a_new_record_does_not_verify_when_the_active_colour_or_version_differs_or_the_update_failed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Pulumi.local.yaml"
    shutil.copy(ROOT / "Pulumi.local.yaml", path)
    entries = [
        entry("azora up", web("2.4.0", "2.5.0"), 1),
        # a record for green while blue is active
        entry("hand edit", web("2.4.0", "2.5.0", verified=verified("green", "2.5.0", 2)), 2),
        # a record for blue 2.3.0 while blue runs 2.4.0
        entry("hand edit", web("2.4.0", "2.5.0", verified=verified("blue", "2.3.0", 3)), 3),
        # the right record, in an update that failed
        entry("azora promote web: verified blue 2.4.0", web("2.4.0", "2.5.0", verified=verified("blue", "2.4.0", 4)), 4,
              result="failed"),
    ]  # fmt: skip
    rows = rollbacks.history(FileTarget(path, entries[::-1]))
    assert [row.verified for row in rows] == [[], [], [], []]
    assert [row.services["web"]["verified"] for row in rows[1:]] == [False, False, False]
    assert [row.services["web"]["verifiedAt"] for row in rows] == [at(4), at(3), at(2), None]


# ----------------------------------------------------------------------------- rollback --verified


def test_rollback_verified_picks_the_newest_verified_revision(target: FileTarget) -> None:
    plan = rollbacks.plan_rollback(target, verified=True)
    assert plan.version == 8 and plan.message.startswith("azora promote web: verified blue 2.6.0")
    assert [(c.key, c.before, c.after) for c in plan.changes] == [
        ("azora:services.web.versions.green", "2.7.0", "2.5.0"),
        ("azora:status.web.activeColor", "green", "blue"),
        ("azora:status.web.promotedAt", at(11), at(8)),
    ]


def test_rollback_verified_skips_a_verified_revision_the_stack_already_has(target: FileTarget) -> None:
    update_8 = RELEASES[7][1]
    target.set_azora("services", update_8["services"])
    target.set_azora("status", update_8["status"])
    plan = rollbacks.plan_rollback(target, verified=True)
    assert plan.version == 4 and plan.message.startswith("azora promote web: verified green 2.5.0")
    assert ("azora:status.web.verified.version", "2.6.0", "2.5.0") in [(c.key, c.before, c.after) for c in plan.changes]
    # without --verified, the default goes back past every release step: to update 1
    assert rollbacks.plan_rollback(target).version == 1


def test_rollback_verified_to_a_verified_update(target: FileTarget) -> None:
    plan = rollbacks.plan_rollback(target, to_version=4, verified=True)
    changes = {change.key: (change.before, change.after) for change in plan.changes}
    assert plan.version == 4
    assert "azora:status.web.activeColor" not in changes  # green then, green now
    assert changes["azora:services.web.versions.blue"] == ("2.6.0", "2.4.0")
    assert changes["azora:services.web.versions.green"] == ("2.7.0", "2.5.0")
    assert changes["azora:status.web.verified.color"] == ("blue", "green")


@pytest.mark.parametrize("version", [5, 7, 10])
def test_rollback_verified_refuses_an_update_that_verified_nothing(target: FileTarget, version: int) -> None:
    with pytest.raises(ReleaseError) as refused:
        rollbacks.plan_rollback(target, to_version=version, verified=True)
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert str(refused.value) == (
        f"update {version} is not a verified revision (no post-promotion gate passed in it); verified updates: 8, 4"
    )
    assert rollbacks.plan_rollback(target, to_version=version).version == version  # without --verified it may


def test_rollback_verified_without_any_verified_update_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.local.yaml"
    shutil.copy(ROOT / "Pulumi.local.yaml", path)
    history = [entry(message, values, minute) for minute, (message, values) in enumerate(RELEASES[:3], start=1)]
    target = FileTarget(path, history[::-1])
    with pytest.raises(ReleaseError, match="has no earlier verified revision with a different config"):
        rollbacks.plan_rollback(target, verified=True)
    with pytest.raises(ReleaseError, match="verified updates: none") as refused:
        rollbacks.plan_rollback(target, to_version=2, verified=True)
    assert refused.value.exit_code == ExitCode.BAD_INPUT


def test_a_failed_update_in_between_does_not_make_the_next_one_verify_again(tmp_path: Path) -> None:
    """A failed rollback ran with a config without the record; the scale-down after it keeps the
    record update 2 made, and verified nothing itself."""
    path = tmp_path / "Pulumi.local.yaml"
    shutil.copy(ROOT / "Pulumi.local.yaml", path)
    record = verified("blue", "2.4.0", 2)
    entries = [
        entry("azora up", web("2.4.0", "2.5.0"), 1),
        entry("azora promote web: verified blue 2.4.0 (...)", web("2.4.0", "2.5.0", verified=record), 2),
        entry("azora rollback to update 1", web("2.4.0", "2.5.0"), 3, result="failed"),
        entry("azora scale-down web", web("2.4.0", "2.5.0", verified=record), 4),
    ]
    target = FileTarget(path, entries[::-1])
    assert [(row.version, row.verified) for row in rollbacks.history(target)] == [
        (4, []),
        (3, []),
        (2, ["web"]),
        (1, []),
    ]
    with pytest.raises(ReleaseError, match="verified updates: 2$"):
        rollbacks.plan_rollback(target, to_version=4, verified=True)
