"""`azora policy check --format sarif` (SARIF 2.1.0, for GitHub code scanning), `--format json`
and the `--json` alias, and the sources (file and line) that SARIF places violations at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azora.manifests import read_manifests, type_token
from azora.sarif import artifact_uri, sarif_report
from policy.rules.catalog import RULES
from policy.rules.engine import evaluate
from policy.rules.model import Source, Violation
from policy.rules.settings import Settings, parse_settings
from tests.unit.policy_cli_support import (
    BAD,
    BLUE_GREEN,
    ROOT,
    invoke,
    manifest,
    report,
    stream,
)

# --------------------------------------------------------------------------------------
# --format sarif (SARIF 2.1.0), --format json and the --json alias.
# --------------------------------------------------------------------------------------


def assert_sarif_2_1_0(log: dict[str, Any]) -> None:
    """The properties SARIF 2.1.0 requires (and code scanning reads), checked one by one."""
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "azora policy" and isinstance(driver["version"], str)
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert isinstance(rule["id"], str) and rule["id"]
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
    assert isinstance(run["results"], list)
    for result in run["results"]:
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        assert result["ruleId"] in ids
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("none", "note", "warning", "error")
        assert len(result["locations"]) >= 1
        for location in result["locations"]:
            physical = location["physicalLocation"]
            assert isinstance(physical["artifactLocation"]["uri"], str) and physical["artifactLocation"]["uri"]
            assert isinstance(physical["region"]["startLine"], int) and physical["region"]["startLine"] >= 1


def sarif(*args: str | Path, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    result = invoke("--format", "sarif", *args, stdin=stdin)
    log = json.loads(result.stdout)  # stdout is the SARIF log and nothing else
    assert_sarif_2_1_0(log)
    return result.exit_code, log


def located(log: dict[str, Any]) -> set[tuple[str, str, str, int, str]]:
    """(ruleId, level, uri, startLine, resource) of every result."""
    found = set()
    for result in log["runs"][0]["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        resource = location["logicalLocations"][0]["fullyQualifiedName"]
        found.add(
            (
                result["ruleId"],
                result["level"],
                physical["artifactLocation"]["uri"],
                physical["region"]["startLine"],
                resource,
            )
        )
    return found


def test_sarif_places_each_violation_at_its_file_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # URIs are relative to the working directory
    code, log = sarif("tests/fixtures/manifests/bad/multi-doc.yaml", "tests/fixtures/manifests/bad/list.yaml")
    assert code == 1
    multi, lists = "tests/fixtures/manifests/bad/multi-doc.yaml", "tests/fixtures/manifests/bad/list.yaml"
    assert located(log) == {
        ("namespace-default-deny", "error", multi, 2, "Namespace/-/shop"),
        ("image-tag-pinned", "error", multi, 7, "Deployment/shop/api"),
        ("no-privileged", "error", multi, 7, "Deployment/shop/api"),
        ("no-node-port", "error", multi, 53, "Service/shop/api"),
        # List items at their own lines, not the List's.
        ("no-secrets-in-configmaps", "error", lists, 5, "ConfigMap/shop/settings"),
        ("no-external-ips", "error", lists, 13, "Service/shop/edge"),
        ("service-selects-workload", "error", lists, 13, "Service/shop/edge"),
    }
    run = log["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [rule.name for rule in RULES]
    by_id = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    no_privileged = next(rule for rule in RULES if rule.name == "no-privileged")
    assert by_id["no-privileged"]["shortDescription"]["text"] == no_privileged.description
    assert by_id["no-privileged"]["help"]["text"] == f"Why: {no_privileged.why}\nFix: {no_privileged.fix}"
    assert by_id["image-pull-policy"]["defaultConfiguration"]["level"] == "warning"
    assert by_id["no-privileged"]["defaultConfiguration"]["level"] == "error"
    message = next(r["message"]["text"] for r in run["results"] if r["ruleId"] == "no-node-port")
    assert message.startswith("Service/shop/api: spec.type is NodePort")


def test_sarif_levels_follow_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    advisory = "tests/fixtures/manifests/advisory-only.yaml"
    code, log = sarif(advisory)
    assert code == 0
    assert located(log) == {("image-pull-policy", "warning", advisory, 16, "Deployment/tools/docs")}
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"image-pull-policy": "mandatory", "no-node-port": "disabled"}))
    code, log = sarif("--config", config, advisory)
    assert code == 1
    assert located(log) == {("image-pull-policy", "error", advisory, 16, "Deployment/tools/docs")}
    levels = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert (levels["image-pull-policy"], levels["no-node-port"]) == ("error", "none")


def test_sarif_from_stdin_names_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = stream(manifest("v1", "ConfigMap", "a"), manifest("autoscaling/v2beta1", "HorizontalPodAutoscaler", "h"))
    code, log = sarif("-", stdin=text)
    assert code == 1
    assert located(log) == {("removed-api", "error", "<stdin>", 8, "HorizontalPodAutoscaler/shop/h")}


def test_sarif_has_the_json_reports_violations_and_a_clean_run_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    _, log = sarif(BAD)
    _, document = report(BAD)
    assert sorted((r["ruleId"], r["message"]["text"]) for r in log["runs"][0]["results"]) == sorted(
        (v["policy"], f"{v['resource']}: {v['message']}") for v in document["violations"]
    )
    code, clean = sarif(BLUE_GREEN)
    assert (code, clean["runs"][0]["results"]) == (0, [])


def test_sarif_uris_outside_the_working_directory_are_absolute(tmp_path: Path) -> None:
    inside = tmp_path / "dir with space" / "m.yaml"
    assert artifact_uri(str(inside), tmp_path) == "dir%20with%20space/m.yaml"
    assert artifact_uri(str(inside), ROOT) == inside.as_uri()
    assert artifact_uri("<stdin>", ROOT) == "<stdin>"


def test_sarif_places_a_violation_without_a_source_at_the_first_input() -> None:
    # A stack rule that breaks on a malformed stack names no resource; code scanning refuses a
    # result without a location, so it goes to the first input.
    violation = Violation("blue-green-pair", "mandatory", "stack/-/stack", "the stack's objects are malformed")
    log = sarif_report([violation], RULES, Settings(), ROOT, Source("rendered/a.yaml", 3))
    assert_sarif_2_1_0(log)
    physical = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert (physical["artifactLocation"]["uri"], physical["region"]["startLine"]) == ("rendered/a.yaml", 3)


def test_json_alias_and_format_choices() -> None:
    assert invoke("--json", BAD).stdout == invoke("--format", "json", BAD).stdout
    for args, message in [
        (("--json", "--format", "sarif"), "--json is short for --format json"),
        (("--format", "xml"), "--format must be text, json or sarif, got 'xml'"),
    ]:
        result = invoke(*args, BAD)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith("error: ") and message in result.stderr


def test_type_tokens_and_evaluate_carry_the_source(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(stream(manifest("v1", "ConfigMap", "a"), manifest("v1", "Deployment", "d")))
    resources = read_manifests([path])
    assert [r.type for r in resources] == [type_token("v1", "ConfigMap"), "kubernetes:core/v1:Deployment"]
    (violation,) = [v for v in evaluate(resources, parse_settings({})) if v.policy == "unknown-kind"]
    assert violation.source == Source(str(path), 8)
    assert "source" not in violation.as_dict()  # --json stays as it was
