"""`azora policy check PATH... [--json] [--config FILE]` over the hand-made manifests in
tests/fixtures/manifests (see its README): output formats, exit codes, and no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from azora.cli import app

MANIFESTS = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"
BAD = MANIFESTS / "bad"
BLUE_GREEN = MANIFESTS / "compliant" / "blue-green"
ADVISORY_ONLY = MANIFESTS / "advisory-only.yaml"
INVALID = MANIFESTS / "invalid"
# The console script installed next to this interpreter (`python -m azora` is not available).
AZORA = Path(sys.executable).parent / "azora"

# Every violation the bad manifests must produce: (policy, enforcement, resource) -> a key
# part of the message, grouped by the file that holds the resource.
BAD_BY_FILE: dict[str, dict[tuple[str, str, str], str]] = {
    "multi-doc.yaml": {
        ("namespace-default-deny", "mandatory", "Namespace/-/shop"): "has no default-deny NetworkPolicy",
        ("image-tag-pinned", "mandatory", "Deployment/shop/api"): "'ghcr.io/azora/api:latest' uses 'latest'",
        ("no-privileged", "mandatory", "Deployment/shop/api"): "container 'api' (spec.template.spec.containers[0])",
        ("no-node-port", "mandatory", "Service/shop/api"): "spec.type is NodePort",
    },
    "list.yaml": {
        ("no-secrets-in-configmaps", "mandatory", "ConfigMap/shop/settings"): "key 'DB_PASSWORD' looks like a secret",
        ("no-external-ips", "mandatory", "Service/shop/edge"): "spec.externalIPs is set (203.0.113.10)",
        ("service-selects-workload", "mandatory", "Service/shop/edge"): "(app.kubernetes.io/name=ghost) selects no",
    },
    "dir": {
        ("no-default-namespace", "mandatory", "Deployment/default/worker"): "is in the 'default' namespace",
        ("resource-requests-limits", "mandatory", "CronJob/jobs/report"): (
            "init container 'fetch' (spec.jobTemplate.spec.template.spec.initContainers[0]) sets no resources"
        ),
        ("no-host-path", "mandatory", "CronJob/jobs/report"): "volume 'logs'",
        # Neither namespace is declared, so its default deny may live in the cluster: advisory.
        ("workload-namespace-default-deny", "advisory", "Deployment/default/worker"): "namespace 'default' (not",
        ("workload-namespace-default-deny", "advisory", "CronJob/jobs/report"): "namespace 'jobs' (not declared",
    },
    "helm-template.yaml": {
        (
            "no-service-account-token",
            "mandatory",
            "StatefulSet/shop/cache",
        ): "automountServiceAccountToken is not false",
    },
}
# What a file reports only when checked alone: in the whole tree, multi-doc.yaml declares `shop`.
ALONE = {
    "helm-template.yaml": {
        ("workload-namespace-default-deny", "advisory", "StatefulSet/shop/cache"): "namespace 'shop' (not declared",
    }
}
RESOURCES_BY_FILE = {"multi-doc.yaml": 3, "list.yaml": 2, "dir": 2, "helm-template.yaml": 2}
ALL_BAD = {key: part for expected in BAD_BY_FILE.values() for key, part in expected.items()}


def invoke(*args: str | Path) -> Result:
    """Run the command in-process; whatever happens, it must not end in an exception."""
    result = CliRunner().invoke(app, ["policy", "check", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def report(*args: str | Path) -> tuple[int, dict[str, Any]]:
    result = invoke("--json", *args)
    return result.exit_code, json.loads(result.stdout)  # stdout is the JSON document and nothing else


def keyed(violations: list[dict[str, str]]) -> dict[tuple[str, str, str], str]:
    keys = [(v["policy"], v["enforcement"], v["resource"]) for v in violations]
    assert len(keys) == len(set(keys)), "one violation per rule and resource in these fixtures"
    return {(v["policy"], v["enforcement"], v["resource"]): v["message"] for v in violations}


def assert_matches(violations: list[dict[str, str]], expected: dict[tuple[str, str, str], str]) -> None:
    found = keyed(violations)
    assert set(found) == set(expected)
    for key, part in expected.items():
        assert part in found[key], (key, found[key])


# --------------------------------------------------------------------------------------
# --json: exactly {"violations": [{policy, enforcement, resource, message}], "resources": N,
# "unchecked": [custom resources by kind]} (tests/unit/test_policy_input.py: custom resources)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD_BY_FILE))
def test_json_report_per_input_shape(name: str) -> None:
    code, document = report(BAD / name)
    assert code == 1
    assert set(document) == {"violations", "resources", "unchecked"}
    assert document["unchecked"] == []
    assert document["resources"] == RESOURCES_BY_FILE[name]
    assert all(set(v) == {"policy", "enforcement", "resource", "message"} for v in document["violations"])
    assert_matches(document["violations"], {**BAD_BY_FILE[name], **ALONE.get(name, {})})


def test_json_report_for_a_whole_tree() -> None:
    # The directory is read recursively; dir/notes.txt is not valid YAML but is no manifest
    # either, so it is skipped rather than reported.
    code, document = report(BAD)
    assert code == 1
    assert document["resources"] == sum(RESOURCES_BY_FILE.values())
    assert_matches(document["violations"], ALL_BAD)


def test_several_paths_form_one_stack() -> None:
    # Stack rules see every path at once: the edge Service's selector still dangles, and the
    # shop Namespace of one file is judged with the policies of the other (none).
    code, document = report(BAD / "list.yaml", BAD / "multi-doc.yaml")
    assert code == 1
    assert document["resources"] == 5
    assert_matches(document["violations"], {**BAD_BY_FILE["list.yaml"], **BAD_BY_FILE["multi-doc.yaml"]})


# --------------------------------------------------------------------------------------
# Human output: one line per violation, then a summary.
# --------------------------------------------------------------------------------------


def test_human_output_has_one_line_per_violation() -> None:
    human = invoke(BAD)
    _, document = report(BAD)
    assert human.exit_code == 1

    lines = human.stdout.splitlines()
    violation_lines = [line for line in lines if line.startswith(("mandatory ", "advisory "))]
    assert len(violation_lines) == len(document["violations"]) == len(ALL_BAD)
    for v in document["violations"]:
        # level, rule, Kind/namespace/name and the whole message, on one unwrapped line
        assert f"{v['enforcement']:9} {v['policy']}  {v['resource']}: {v['message']}" in violation_lines
    advisory = sum(1 for _, level, _ in ALL_BAD if level == "advisory")
    assert lines[-1] == f"9 resources, {len(ALL_BAD) - advisory} mandatory and {advisory} advisory violations"
    assert "\x1b[" not in human.stdout  # no colour codes when not writing to a terminal


def test_markup_like_text_in_messages_is_printed_verbatim() -> None:
    # The namespace-default-deny message contains "[Ingress, Egress]", which rich would eat
    # as markup if it were not escaped.
    human = invoke(BAD / "multi-doc.yaml")
    assert "podSelector {} with policyTypes [Ingress, Egress] and no rules" in human.stdout


# --------------------------------------------------------------------------------------
# Exit codes: 1 mandatory, 0 advisory only or clean, 2 unreadable input.
# --------------------------------------------------------------------------------------


def test_compliant_blue_green_set_passes() -> None:
    code, document = report(BLUE_GREEN)
    assert (code, document) == (0, {"violations": [], "resources": 7, "unchecked": []})
    human = invoke(BLUE_GREEN)
    assert human.exit_code == 0
    assert human.stdout.splitlines() == ["7 resources, 0 mandatory and 0 advisory violations"]


def test_blue_green_set_is_really_checked(tmp_path: Path) -> None:
    # Point the preview at the live colour and the same files fail: the clean result above is
    # the rules passing, not the rules not looking.
    services = (BLUE_GREEN / "services.yaml").read_text()
    assert services.count("azora.io/color: green") == 1
    broken = tmp_path / "services.yaml"
    broken.write_text(services.replace("azora.io/color: green", "azora.io/color: blue"))
    others = [BLUE_GREEN / name for name in ("namespace.yaml", "deployments.yaml", "pdb.yaml")]
    code, document = report(*others, broken)
    assert code == 1
    assert [(v["policy"], v["resource"]) for v in document["violations"]] == [
        ("blue-green-pair", "Service/storefront/web-preview")
    ]


def test_only_advisory_violations_exit_0() -> None:
    human = invoke(ADVISORY_ONLY)
    assert human.exit_code == 0
    assert human.stdout.splitlines() == [
        "advisory  image-pull-policy  Deployment/tools/docs: spec.template.spec.containers[0] (docs) pulls Always; "
        "with pinned tags IfNotPresent avoids registry outages",
        "3 resources, 0 mandatory and 1 advisory violations",
    ]


def test_config_raises_an_advisory_rule_to_mandatory(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"image-pull-policy": {"enforcementLevel": "mandatory"}}))
    code, document = report("--config", config, ADVISORY_ONLY)
    assert code == 1
    assert [(v["policy"], v["enforcement"]) for v in document["violations"]] == [("image-pull-policy", "mandatory")]


def test_config_all_advisory_turns_failures_into_warnings(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text('{"all": "advisory"}')
    code, document = report("--config", config, BAD)
    assert code == 0
    assert {v["enforcement"] for v in document["violations"]} == {"advisory"}
    assert len(document["violations"]) == len(ALL_BAD)


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda tmp: [tmp / "nope.yaml"], "nope.yaml: no such file or directory"),
        (lambda tmp: [INVALID / "not-yaml.yaml"], "not-yaml.yaml:6: not valid YAML"),
        (lambda tmp: [INVALID / "not-a-mapping.yaml"], "not-a-mapping.yaml:2: a manifest must be a mapping"),
        (lambda tmp: [tmp], "no .yaml, .yml or .json files"),
        (
            lambda tmp: ["--config", _config(tmp, '{"no-such-rule": "advisory"}'), BLUE_GREEN],
            "policy.json: unknown rule 'no-such-rule'",
        ),
        (
            lambda tmp: ["--config", _config(tmp, '{\n  "all": advisory\n}'), BLUE_GREEN],
            "policy.json:2: not valid JSON",
        ),
        (
            lambda tmp: ["--config", _config(tmp, '{"production-min-replicas": {"minReplicas": "two"}}'), BLUE_GREEN],
            "minReplicas must be of type integer",
        ),
        (lambda tmp: ["--config", tmp / "missing.json", BLUE_GREEN], "missing.json: cannot read"),
    ],
    ids=[
        "missing-path",
        "not-yaml",
        "not-a-mapping",
        "empty-dir",
        "config-unknown-rule",
        "config-not-json",
        "config-wrong-type",
        "config-missing",
    ],
)
def test_unreadable_input_exits_2_with_a_message(tmp_path: Path, args: Any, message: str) -> None:
    for flag in ((), ("--json",)):
        result = invoke(*flag, *args(tmp_path))
        assert result.exit_code == 2
        assert result.stdout == ""  # nothing half-printed, not even with --json
        assert message in result.stderr
        assert result.stderr.startswith("error: ")


def test_one_unreadable_file_fails_the_whole_run() -> None:
    # A broken file next to good ones must not be skipped: the run would look cleaner than it is.
    result = invoke(BLUE_GREEN, INVALID / "not-yaml.yaml")
    assert result.exit_code == 2
    assert "not-yaml.yaml:6" in result.stderr


def test_empty_documents_in_helm_output_are_skipped() -> None:
    # BUG azora/manifests.py:49-52: PyYAML composes an explicit empty document (`---` followed
    # only by comments, or a trailing `---`) as an empty null ScalarNode, not None; it is
    # re-serialized to "...\n" and safe_load fails, so the file is rejected (exit 2) with
    # "helm-template.yaml:1: not valid YAML: expected the node content, but found '<document end>'".
    # `helm template` prints such documents, and many hand-written files end in `---`.
    result = invoke("--json", MANIFESTS / "empty-documents")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"violations": [], "resources": 2, "unchecked": []}


def test_malformed_object_does_not_end_in_a_traceback() -> None:
    result = CliRunner().invoke(app, ["policy", "check", str(INVALID / "selector-typo.yaml")])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    # The rule reports the malformed selector as a mandatory violation on that Service.
    assert result.exit_code == 1
    assert "service-selects-workload" in result.output and "Service/shop/api" in result.output
    assert "spec.selector must be a mapping of labels" in result.output


# --------------------------------------------------------------------------------------
# The installed console script, as a real process.
# --------------------------------------------------------------------------------------


def _azora(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert AZORA.exists(), f"console script not installed at {AZORA}"
    return subprocess.run([str(AZORA), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def test_console_script_end_to_end() -> None:
    bad = _azora("policy", "check", "--json", BAD)
    assert bad.returncode == 1, bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    document = json.loads(bad.stdout)
    assert document["resources"] == 9
    assert_matches(document["violations"], ALL_BAD)

    clean = _azora("policy", "check", BLUE_GREEN)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip() == "7 resources, 0 mandatory and 0 advisory violations"

    missing = _azora("policy", "check", MANIFESTS / "does-not-exist")
    assert missing.returncode == 2
    assert "does-not-exist: no such file or directory" in missing.stderr
    assert "Traceback" not in missing.stdout + missing.stderr
